/**
 * Benchmark helper: Azurite's Table service (in memory) in its own process, as Table Storage is its own
 * service in Azure, so the Provider process is not also paying for the storage emulator's CPU. Prints
 * `ready <connection string>`; SIGTERM stops it.
 */
import { startAzurite } from "../dev/azurite";

async function main(): Promise<void> {
  const azurite = await startAzurite();
  console.log(`ready ${azurite.connectionString}`);
  process.on("SIGTERM", () => {
    void azurite.stop().finally(() => process.exit(0));
  });
}

void main();
