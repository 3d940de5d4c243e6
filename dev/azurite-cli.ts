/**
 * Azurite's Table service as a process of its own (a part of `npm start`):
 * `node dist/dev/azurite-cli.js [--location <dir>] [--port 10002] [--periodic-saves]`. Without a location
 * it keeps tables in memory. Prints `ready {"tableEndpoint":...,"connectionString":...}` (dev/part.ts).
 */
import { parseArgs } from "node:util";
import { startAzurite } from "./azurite";
import { announceReady, stopOnSignals } from "./part";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      location: { type: "string" },
      port: { type: "string", default: "10002" },
      // Azurite's own 5 s autosave instead of write-through (see dev/azurite.ts).
      "periodic-saves": { type: "boolean", default: false },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be a port number, got "${values.port}"`);
  const azurite = await startAzurite({
    location: values.location,
    port,
    durability: values["periodic-saves"] ? "periodic" : "write-through",
  });
  stopOnSignals(() => azurite.stop());
  announceReady({ tableEndpoint: azurite.tableEndpoint, connectionString: azurite.connectionString });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
