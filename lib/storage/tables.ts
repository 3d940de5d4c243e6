/**
 * Table Storage access shared by the registry and the deployment ledger: one TableClient per table,
 * created lazily, with the table created once per process. In Azure the account allows no shared keys,
 * so a client signs in with the app's managed identity; a connection string (Azurite) is for local runs
 * and tests. Azurite (http) endpoints are allowed only because they are plain http; production is https.
 */
import { RestError, TableClient, TableEntityResult } from "@azure/data-tables";
import type { StorageAccess } from "../config/settings";
import { appIdentityCredential } from "../credentials/app-identity";

/** A client for `table` in the storage `access` names; a bare string is a connection string (tests, Azurite). */
export function createTableClient(access: StorageAccess | string, table: string): TableClient {
  const storage: StorageAccess =
    typeof access === "string" ? { kind: "connectionString", connectionString: access } : access;
  if (storage.kind === "identity") {
    return new TableClient(storage.tableServiceUri, table, appIdentityCredential(storage.clientId), {
      allowInsecureConnection: /^http:/i.test(storage.tableServiceUri),
    });
  }
  const { connectionString } = storage;
  const insecure = /TableEndpoint=http:|DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true/i.test(
    connectionString,
  );
  return TableClient.fromConnectionString(connectionString, table, { allowInsecureConnection: insecure });
}

/** Creates the table if needed, once; concurrent callers share the same attempt. */
export function tableInitializer(client: TableClient): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= client.createTable().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
}

/** A string as an OData literal for a query filter: quoted, its quotes doubled. */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export function statusCodeOf(error: unknown): number | undefined {
  return error instanceof RestError
    ? error.statusCode
    : (error as { statusCode?: number } | undefined)?.statusCode;
}

/** A continuation token that did not come from a listing of this table (a client's mistake). */
export class InvalidContinuationTokenError extends Error {
  constructor() {
    super("The continuation token is not one this listing handed out.");
    this.name = "InvalidContinuationTokenError";
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Keys travel back to the service as request headers; a control character would fail in the HTTP
// client before the service could answer 400.
const headerSafe = (s: string) => [...s].every((c) => c >= " " && c !== "\x7f");

/**
 * Whether a token has the shape @azure/data-tables gives out: base64 of `{"nextPartitionKey":…,
 * "nextRowKey"?:…}`. The SDK decodes it without checks, so garbage would surface as a SyntaxError or
 * TypeError (a 500) instead of a client error. Decoded byte by byte as the SDK does, so what is checked
 * is what it would send.
 */
export function isContinuationToken(token: string): boolean {
  if (token.length === 0 || !BASE64.test(token)) return false;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, "base64").toString("latin1"));
  } catch {
    return false;
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) return false;
  const { nextPartitionKey, nextRowKey, ...rest } = value as Record<string, unknown>;
  return (
    Object.keys(rest).length === 0 &&
    typeof nextPartitionKey === "string" &&
    nextPartitionKey.length > 0 &&
    headerSafe(nextPartitionKey) &&
    (nextRowKey === undefined || (typeof nextRowKey === "string" && headerSafe(nextRowKey)))
  );
}

/**
 * One page of a query. A malformed token, or one the service refuses (keys it cannot use), is an
 * InvalidContinuationTokenError, so callers can answer the client instead of failing.
 */
export async function queryPage<T extends object>(
  client: TableClient,
  filter: string,
  maxPageSize: number,
  continuationToken?: string,
): Promise<{ items: TableEntityResult<T>[]; continuationToken?: string }> {
  if (continuationToken !== undefined && !isContinuationToken(continuationToken))
    throw new InvalidContinuationTokenError();
  let page: IteratorResult<TableEntityResult<T>[] & { continuationToken?: string }>;
  try {
    page = await client
      .listEntities<T>({ queryOptions: { filter } })
      .byPage({ maxPageSize, continuationToken })
      .next();
  } catch (error) {
    if (continuationToken !== undefined && statusCodeOf(error) === 400)
      throw new InvalidContinuationTokenError();
    throw error;
  }
  if (page.done || !page.value) return { items: [] };
  const token = page.value.continuationToken;
  return { items: [...page.value], ...(token ? { continuationToken: token } : {}) };
}
