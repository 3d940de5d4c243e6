/**
 * `npm run emulator:servicebus -- --config <Config.json> [--data-dir <dir>] [--cert-dir <dir>] [--host 127.0.0.1]`:
 * starts the emulator and prints one line per listening namespace, then `ready <json>` with every
 * namespace's ports and connection string (see dev/part.ts); Ctrl-C stops it.
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { announceReady, stopOnSignals } from "../part";
import { EmulatorConfigError, startServiceBusEmulator } from "./index";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: "string", short: "c" },
      "data-dir": { type: "string" },
      "cert-dir": { type: "string" },
      host: { type: "string" },
      verbose: { type: "boolean", short: "v" },
    },
  });
  if (!values.config)
    throw new Error("--config <file> is required (the official emulator's Config.json shape).");
  const config = JSON.parse(fs.readFileSync(values.config, "utf8")) as unknown;
  const emulator = await startServiceBusEmulator(config, {
    dataDir: values["data-dir"],
    certDir: values["cert-dir"],
    host: values.host,
    log: (level, message, props) => {
      // A failed write-ahead log append is always worth seeing; the rest only with --verbose.
      if (values.verbose || level === "error") console.log(JSON.stringify({ level, message, ...props }));
    },
  });
  stopOnSignals(() => emulator.stop());
  for (const ns of emulator.namespaces) {
    const tls = ns.tlsPort === undefined ? "" : ` tls=${ns.tlsEndpoint}`;
    console.log(
      `namespace ${ns.name} listening on ${ns.endpoint}${tls} queues=${[...ns.namespace.queues.values()].map((q) => q.name).join(",")}`,
    );
    console.log(`  ${ns.connectionString}`);
  }
  announceReady({
    namespaces: emulator.namespaces.map((ns) => ({
      name: ns.name,
      port: ns.port,
      tlsPort: ns.tlsPort,
      tlsEndpoint: ns.tlsEndpoint,
      connectionString: ns.connectionString,
    })),
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof EmulatorConfigError || error instanceof Error ? error.message : error);
  process.exit(1);
});
