/**
 * `npm run host -- --app <dir> [--port 7071] [--quiet] [--time-skipping] [--emulate-app-service-auth]`: runs a Function App like `func start`; Ctrl-C
 * stops it. When ready it prints `ready {"url":...}` (see dev/part.ts), which `npm start` waits for.
 */
import { parseArgs } from "node:util";
import { announceReady, stopOnSignals } from "../part";
import { startHost } from "./index";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      app: { type: "string", default: "." },
      port: { type: "string", default: "7071" },
      host: { type: "string" },
      // Leaves out the function listing; invocation logs are still written.
      quiet: { type: "boolean", default: false },
      // Durable timers fire as soon as nothing else can run (docs/durable-engine.md, "Time skipping").
      "time-skipping": { type: "boolean" },
      // Says App Service Authentication is on and trusts the caller's principal header (docs/dev-host.md).
      "emulate-app-service-auth": { type: "boolean" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be a port number, got "${values.port}"`);
  const host = await startHost({
    appDir: values.app as string,
    port,
    host: values.host,
    quiet: values.quiet,
    timeSkipping: values["time-skipping"],
    emulateAppServiceAuth: values["emulate-app-service-auth"],
  });
  stopOnSignals(() => host.stop());
  announceReady({ url: host.url });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
