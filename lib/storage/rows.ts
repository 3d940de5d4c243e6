/**
 * Versioned rows: what every store in Table Storage shares about its rows' shape (docs/upgrading.md,
 * "Stored rows and messages").
 *
 * - Every row the product writes carries `schemaVersion` (the column named by SCHEMA_VERSION_COLUMN). A
 *   row without it was written before the column existed (release 0.1.0) and IS version 1.
 * - Shapes change only by adding columns; a reader accepts every shape a supported release wrote, and a
 *   row of a newer version is read as far as this reader understands it (the additions are optional), so
 *   a rolling upgrade or a rollback never makes a row unreadable.
 * - A JSON column is read with readJsonColumn: a missing or unparsable value becomes the column's
 *   documented default, or, where no default is safe, a StoredRowError naming the table, partition, row
 *   and column, never a raw SyntaxError (`"undefined" is not valid JSON`).
 */

/** The column every row carries. */
const SCHEMA_VERSION_COLUMN = "schemaVersion";

/** The version of the row shapes this code writes. Bump only with a documented shape change. */
export const CURRENT_SCHEMA_VERSION = 1;

/** The column to spread into every row written: `{ schemaVersion: CURRENT_SCHEMA_VERSION }`. */
export const schemaVersionColumn = (): { schemaVersion: number } => ({
  schemaVersion: CURRENT_SCHEMA_VERSION,
});

/** A row's schema version: 1 when the column is absent (or not a positive integer: an older writer's row). */
export function schemaVersionOf(row: object): number {
  const value = (row as Record<string, unknown>)[SCHEMA_VERSION_COLUMN];
  return typeof value === "number" && Number.isInteger(value) && value >= 1 ? value : 1;
}

/** A stored row this code cannot read: which one, which column, and why. */
export class StoredRowError extends Error {
  constructor(
    readonly table: string,
    readonly partitionKey: string,
    readonly rowKey: string,
    readonly column: string,
    readonly reason: string,
  ) {
    super(`Table "${table}", partition "${partitionKey}", row "${rowKey}": column "${column}" ${reason}.`);
    this.name = "StoredRowError";
  }
}

interface RowKeys {
  partitionKey?: string;
  rowKey?: string;
}

interface JsonColumnOptions<T> {
  /** What a missing or unparsable value reads as; without it, either is a StoredRowError. */
  default?: () => T;
  /** A shape check of the parsed value (the JSON may be valid and still not this column's shape). */
  valid?: (value: unknown) => boolean;
}

/**
 * The parsed JSON of `row[column]`. Missing (absent, null or empty), unparsable, or refused by `valid`:
 * the default when one is given, else a StoredRowError.
 */
export function readJsonColumn<T>(
  table: string,
  row: RowKeys,
  column: string,
  options: JsonColumnOptions<T> = {},
): T {
  const fail = (reason: string): T => {
    if (options.default) return options.default();
    throw new StoredRowError(table, row.partitionKey ?? "", row.rowKey ?? "", column, reason);
  };
  const raw = (row as Record<string, unknown>)[column];
  if (raw === undefined || raw === null || raw === "") return fail("is missing");
  if (typeof raw !== "string") return fail(`is not a string (${typeof raw})`);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return fail("is not valid JSON");
  }
  if (options.valid && !options.valid(value)) return fail("does not have the expected shape");
  return value as T;
}

/** For `valid`: a JSON object (not null, not an array). */
export const isJsonObject = (value: unknown): boolean =>
  typeof value === "object" && value !== null && !Array.isArray(value);
