/**
 * Starts Azurite's Table service in this process on a loopback port (random by default), in memory or
 * persisted under a folder. Used by tests (each suite gets its own, isolated instance) and by `npm start`.
 */
import fs from "node:fs";
import path from "node:path";

interface AzuriteTableServer {
  start(): Promise<void>;
  close(): Promise<void>;
  clean(): Promise<void>;
  getHttpServerAddress(): string;
}
type TableServerCtor = new (config: unknown) => AzuriteTableServer;
type TableConfigurationCtor = new (...args: unknown[]) => unknown;

/** Azurite's published development account; not a secret (documented by Microsoft for local use). */
export const DEV_ACCOUNT_NAME = "devstoreaccount1";
export const DEV_ACCOUNT_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteOptions {
  /** Folder for persisted data; omitted = in memory. */
  location?: string;
  /** 0 (default) picks a free port. */
  port?: number;
}

export interface RunningAzurite {
  tableEndpoint: string;
  connectionString: string;
  stop(): Promise<void>;
}

export function tableConnectionString(tableEndpoint: string): string {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT_NAME};AccountKey=${DEV_ACCOUNT_KEY};` +
    `TableEndpoint=${tableEndpoint}/${DEV_ACCOUNT_NAME};`
  );
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<RunningAzurite> {
  // Deep imports: the package root pulls in the VS Code extension entry point.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const TableServer = require("azurite/dist/src/table/TableServer").default as TableServerCtor;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const TableConfiguration = require("azurite/dist/src/table/TableConfiguration")
    .default as TableConfigurationCtor;
  const inMemory = options.location === undefined;
  if (options.location) fs.mkdirSync(options.location, { recursive: true });
  const dbPath = inMemory ? undefined : path.join(options.location as string, "__azurite_db_table__.json");
  const config = new TableConfiguration(
    "127.0.0.1",
    options.port ?? 0,
    5, // keep-alive seconds
    dbPath,
    false, // debug log
    false, // access log
    undefined,
    undefined,
    false, // loose
    true, // skip API version check: SDK versions move faster than Azurite
    "",
    "",
    "",
    undefined,
    false,
    inMemory,
  );
  const server = new TableServer(config);
  await server.start();
  const tableEndpoint = server.getHttpServerAddress();
  return {
    tableEndpoint,
    connectionString: tableConnectionString(tableEndpoint),
    async stop() {
      await server.close();
      if (inMemory) await server.clean();
    },
  };
}
