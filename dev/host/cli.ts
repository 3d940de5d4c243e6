/** `npm run host -- --app <dir> [--port 7071]`: runs a Function App like `func start`; Ctrl-C stops it. */
import { parseArgs } from "node:util";
import { startHost } from "./index";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      app: { type: "string", default: "." },
      port: { type: "string", default: "7071" },
      host: { type: "string" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be a port number, got "${values.port}"`);
  const host = await startHost({ appDir: values.app as string, port, host: values.host });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void host.stop().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
