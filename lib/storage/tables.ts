/**
 * Table Storage access shared by the registry and the deployment ledger: one TableClient per table,
 * created lazily, with the table created once per process. Azurite (http) endpoints are allowed only
 * because they are plain http; production connection strings are https.
 */
import { RestError, TableClient } from "@azure/data-tables";

export function createTableClient(connectionString: string, table: string): TableClient {
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

export function statusCodeOf(error: unknown): number | undefined {
  return error instanceof RestError
    ? error.statusCode
    : (error as { statusCode?: number } | undefined)?.statusCode;
}
