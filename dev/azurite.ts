/**
 * Starts Azurite's Table service in this process on a loopback port (random by default), in memory or
 * persisted under a folder. Used by tests (each suite gets its own, isolated instance) and by `npm start`
 * (dev/azurite-cli.ts, a process of its own).
 *
 * Azurite keeps tables in LokiJS and saves the whole database to its file every 5 s (not configurable in
 * 3.35.0), so kill -9 used to roll back up to 5 s of acknowledged writes. Persisted here, writes are
 * write-through by default: a write's response is held until a save that began after the write has
 * reached the disk (written, fsync'd, renamed, folder fsync'd). Saves are Loki's own throttled saves, so
 * the writes that arrive during one save share the next (group commit). See docs/local-development.md,
 * "Local stack durability".
 */
import fs from "node:fs";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import path from "node:path";

/** The parts of LokiJS (1.5, inside Azurite) the write-through mode relies on; checked at start. */
interface LokiAdapter {
  loadDatabase(dbname: string, callback: (data: unknown) => void): void;
  saveDatabase(dbname: string, dbstring: string, callback: (error?: Error | null) => void): void;
  deleteDatabase?(dbname: string, callback: (error?: Error | null) => void): void;
  mode?: string;
}
interface LokiDatabase {
  persistenceAdapter: LokiAdapter | null;
  throttledSaves: boolean;
  saveDatabase(callback: (error?: Error | null) => void): void;
}

interface AzuriteTableServer {
  start(): Promise<void>;
  close(): Promise<void>;
  clean(): Promise<void>;
  getHttpServerAddress(): string;
  /** Azurite internals (3.35.0): the HTTP server and the LokiJS store behind it. */
  httpServer?: Server;
  metadataStore?: { db?: LokiDatabase };
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
  /**
   * With a location: "write-through" (default) answers a write once it is on disk; "periodic" is
   * Azurite's own behaviour, a save every 5 s (faster for large databases, loses up to 5 s on a crash).
   */
  durability?: "write-through" | "periodic";
  /** Called for every request the Table service receives (benchmarks count them). */
  onRequest?: (method: string, url: string) => void;
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
  const onRequest = options.onRequest;
  if (onRequest) {
    if (!server.httpServer) throw new Error("this Azurite version does not expose its HTTP server");
    server.httpServer.on("request", (req: IncomingMessage) => onRequest(req.method ?? "", req.url ?? ""));
  }
  if (!inMemory && options.durability !== "periodic") makeWritesDurable(server);
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

const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "MERGE", "DELETE"]);

/** Holds every write's response until the database holding it is on disk (see the module comment). */
function makeWritesDurable(server: AzuriteTableServer): void {
  const db = server.metadataStore?.db;
  const original = db?.persistenceAdapter;
  if (!db || !original || original.mode !== undefined || !server.httpServer)
    throw new Error(
      "Azurite's internals are not what dev/azurite.ts expects (LokiJS store with the fs adapter); " +
        "check the pinned azurite version.",
    );
  db.persistenceAdapter = {
    loadDatabase: (name, callback) => original.loadDatabase(name, callback),
    deleteDatabase: original.deleteDatabase?.bind(original),
    saveDatabase: (name, data, callback) => {
      writeDurably(name, data).then(
        () => callback(null),
        (error: Error) => callback(error),
      );
    },
  };
  // A save asked for while one runs waits for the next one, which serializes later and so includes
  // every write made before it was asked for. Loki's default; set in case a loaded file said otherwise.
  db.throttledSaves = true;
  const saved = () =>
    new Promise<void>((resolve, reject) => db.saveDatabase((error) => (error ? reject(error) : resolve())));
  // Runs before Azurite's own listener, so the response is wrapped before Azurite writes to it.
  server.httpServer.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
    if (!WRITE_METHODS.has((req.method ?? "").toUpperCase())) return;
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    const held: unknown[][] = [];
    res.write = ((...args: unknown[]) => {
      held.push(args);
      return true;
    }) as typeof res.write;
    res.end = ((...args: unknown[]) => {
      saved().then(
        () => {
          for (const chunk of held) write(...chunk);
          end(...args);
        },
        // Not on disk: the client must not take the write as done.
        (error: unknown) => res.destroy(error instanceof Error ? error : new Error(String(error))),
      );
      return res;
    }) as typeof res.end;
  });
}

/** Replaces `file` with `data` so that either the old or the new content survives a crash or power loss. */
async function writeDurably(file: string, data: string): Promise<void> {
  const tmp = `${file}~`;
  const handle = await fs.promises.open(tmp, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(tmp, file);
  // Windows cannot open a folder as a file; NTFS journals the rename itself.
  if (process.platform === "win32") return;
  const dir = await fs.promises.open(path.dirname(file), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
