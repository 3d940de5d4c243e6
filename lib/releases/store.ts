/**
 * Releases in Table Storage (table `releases`, schema version 1): one partition, one row per version,
 * the spec in a property of its own (32 KiB of spec fit in one). A release is written once and never
 * changed: `create` of an existing version answers the stored release when the request is the same (a
 * client's retry), and a ReleaseConflictError when it differs.
 */
import { isDeepStrictEqual } from "node:util";
import type { TableClient, TableEntityResult } from "@azure/data-tables";
import { isJsonObject, readJsonColumn, schemaVersionColumn } from "../storage/rows";
import { odataString, statusCodeOf, tableInitializer } from "../storage/tables";
import type { HealthCheck } from "../messaging/contracts";
import { compareVersions, type Release } from "./model";

export const RELEASES_TABLE = "releases";
const PARTITION = "release";

interface ReleaseRow {
  partitionKey: string;
  rowKey: string;
  schemaVersion?: number;
  spec: string;
  description?: string;
  /** JSON of the health check; absent when there is none (and on rows before 0.5.0). */
  healthCheck?: string;
  createdAt: string;
  /** JSON of the creator (`Actor`). */
  createdBy: string;
}

/** The version exists with another spec or description: releases are immutable. */
export class ReleaseConflictError extends Error {
  constructor(readonly version: string) {
    super(`Release ${version} already exists with another spec or description; releases are immutable.`);
    this.name = "ReleaseConflictError";
  }
}

function toRow(r: Release): ReleaseRow {
  return {
    partitionKey: PARTITION,
    rowKey: r.version,
    ...schemaVersionColumn(),
    spec: JSON.stringify(r.spec),
    ...(r.description !== undefined ? { description: r.description } : {}),
    ...(r.healthCheck !== undefined ? { healthCheck: JSON.stringify(r.healthCheck) } : {}),
    createdAt: r.createdAt,
    createdBy: JSON.stringify(r.createdBy),
  };
}

function fromRow(table: string, row: TableEntityResult<ReleaseRow>): Release {
  return {
    version: row.rowKey,
    spec: readJsonColumn<Record<string, unknown>>(table, row, "spec", { valid: isJsonObject }),
    ...(row.description !== undefined ? { description: row.description } : {}),
    ...(row.healthCheck !== undefined
      ? { healthCheck: readJsonColumn<HealthCheck>(table, row, "healthCheck", { valid: isJsonObject }) }
      : {}),
    createdAt: row.createdAt,
    createdBy: readJsonColumn(table, row, "createdBy", {
      valid: isJsonObject,
      default: () => ({ name: "unknown" }),
    }),
  };
}

export class ReleaseStore {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly client: TableClient) {
    this.ensureTable = tableInitializer(client);
  }

  /** Creates the release; `created` is false when the same release existed already. */
  async create(release: Release): Promise<{ release: Release; created: boolean }> {
    await this.ensureTable();
    try {
      await this.client.createEntity(toRow(release));
      return { release, created: true };
    } catch (error) {
      if (statusCodeOf(error) !== 409) throw error;
    }
    const existing = await this.get(release.version);
    if (
      !existing ||
      !isDeepStrictEqual(existing.spec, release.spec) ||
      !isDeepStrictEqual(existing.healthCheck, release.healthCheck) ||
      existing.description !== release.description
    )
      throw new ReleaseConflictError(release.version);
    return { release: existing, created: false };
  }

  async get(version: string): Promise<Release | undefined> {
    await this.ensureTable();
    try {
      return fromRow(this.client.tableName, await this.client.getEntity<ReleaseRow>(PARTITION, version));
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Every release, newest version first (SemVer precedence). */
  async list(): Promise<Release[]> {
    await this.ensureTable();
    const out: Release[] = [];
    for await (const row of this.client.listEntities<ReleaseRow>({
      queryOptions: { filter: `PartitionKey eq ${odataString(PARTITION)}` },
    }))
      out.push(fromRow(this.client.tableName, row));
    return out.sort((a, b) => compareVersions(b.version, a.version));
  }
}
