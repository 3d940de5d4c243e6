/**
 * Benchmark helper: Azurite's Table service (in memory) in its own process, as Table Storage is its own
 * service in Azure, so the Provider process is not also paying for the storage emulator's CPU. Prints
 * `ready <connection string>`; SIGTERM stops it. Counts requests by table (`stats` on stdin, see
 * bench/children.ts): an entity batch counts once, as `$batch`.
 */
import { startAzurite } from "../dev/azurite";
import { answerStats } from "./children";

const requests: Record<string, number> = {};

/** `/devstoreaccount1/<table>(...)?...` → the table; `Tables`, `$batch` as they are. */
function tableOf(url: string): string {
  const segment = url.split("?")[0]?.split("/")[2] ?? "";
  return segment.replace(/\(.*$/, "") || "(none)";
}

async function main(): Promise<void> {
  const azurite = await startAzurite({
    onRequest: (_method, url) => {
      const table = tableOf(url);
      requests[table] = (requests[table] ?? 0) + 1;
    },
  });
  answerStats(() => requests);
  console.log(`ready ${azurite.connectionString}`);
  process.on("SIGTERM", () => {
    void azurite.stop().finally(() => process.exit(0));
  });
}

void main();
