/**
 * `npm start`: brings up the local stack. Today that is Azurite (Table Storage) persisted under
 * `.data/`; the Service Bus emulator, the Functions dev host and the customer agents join it as they land.
 */
import path from "node:path";
import { startAzurite } from "./azurite";

async function main(): Promise<void> {
  const dataDir = path.resolve(process.env.DATA_DIR ?? ".data");
  const azurite = await startAzurite({ location: path.join(dataDir, "azurite"), port: 10002 });
  console.log(`Azurite Table Storage: ${azurite.tableEndpoint} (data in ${dataDir})`);
  console.log(`AzureWebJobsStorage="${azurite.connectionString}"`);
  console.log("Press Ctrl-C to stop.");
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await azurite.stop();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
