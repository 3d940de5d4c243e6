/**
 * `npm run emulator:servicebus -- --config <Config.json> [--data-dir <dir>] [--host 127.0.0.1]`:
 * starts the emulator and prints one line per listening namespace; Ctrl-C stops it.
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { EmulatorConfigError, startServiceBusEmulator } from "./index";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: "string", short: "c" },
      "data-dir": { type: "string" },
      host: { type: "string" },
      verbose: { type: "boolean", short: "v" },
    },
  });
  if (!values.config)
    throw new Error("--config <file> is required (the official emulator's Config.json shape).");
  const config = JSON.parse(fs.readFileSync(values.config, "utf8")) as unknown;
  const emulator = await startServiceBusEmulator(config, {
    dataDir: values["data-dir"],
    host: values.host,
    log: values.verbose
      ? (level, message, props) => console.log(JSON.stringify({ level, message, ...props }))
      : undefined,
  });
  for (const ns of emulator.namespaces) {
    const tls = ns.tlsPort === undefined ? "" : ` tls=${ns.tlsEndpoint}`;
    console.log(
      `namespace ${ns.name} listening on ${ns.endpoint}${tls} queues=${[...ns.namespace.queues.values()].map((q) => q.name).join(",")}`,
    );
    console.log(`  ${ns.connectionString}`);
  }
  const stop = () => {
    void emulator.stop().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof EmulatorConfigError || error instanceof Error ? error.message : error);
  process.exit(1);
});
