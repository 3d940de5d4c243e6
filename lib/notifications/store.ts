/**
 * Subscriptions (table `subscriptions`, schema version 1: one partition, one row per subscription) and
 * the delivery log (table `deliveries`, schema version 1: one partition per subscription, one row per
 * delivery attempt, newest first by an inverted-time row key). The log never holds a secret, a signature
 * or a response body: the attempt, the answer's status code or the error's text, its time and length.
 */
import type { TableClient, TableEntityResult } from "@azure/data-tables";
import { isJsonObject, readJsonColumn, schemaVersionColumn } from "../storage/rows";
import { odataString, queryPage, statusCodeOf, tableInitializer } from "../storage/tables";
import type { EventType, Subscription } from "./model";

export const SUBSCRIPTIONS_TABLE = "subscriptions";
export const DELIVERIES_TABLE = "deliveries";
const PARTITION = "subscription";

interface SubscriptionRow {
  partitionKey: string;
  rowKey: string;
  schemaVersion?: number;
  url: string;
  events: string;
  secretSetting: string;
  description?: string;
  createdAt: string;
  createdBy: string;
}

function fromSubscriptionRow(table: string, row: TableEntityResult<SubscriptionRow>): Subscription {
  return {
    id: row.rowKey,
    url: row.url,
    events: readJsonColumn<EventType[]>(table, row, "events", { valid: Array.isArray }),
    secretSetting: row.secretSetting,
    ...(row.description !== undefined ? { description: row.description } : {}),
    createdAt: row.createdAt,
    createdBy: readJsonColumn(table, row, "createdBy", {
      valid: isJsonObject,
      default: () => ({ name: "unknown" }),
    }),
  };
}

export class SubscriptionStore {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly client: TableClient) {
    this.ensureTable = tableInitializer(client);
  }

  async create(s: Subscription): Promise<void> {
    await this.ensureTable();
    await this.client.createEntity<SubscriptionRow>({
      partitionKey: PARTITION,
      rowKey: s.id,
      ...schemaVersionColumn(),
      url: s.url,
      events: JSON.stringify(s.events),
      secretSetting: s.secretSetting,
      ...(s.description !== undefined ? { description: s.description } : {}),
      createdAt: s.createdAt,
      createdBy: JSON.stringify(s.createdBy),
    });
  }

  async get(id: string): Promise<Subscription | undefined> {
    await this.ensureTable();
    try {
      return fromSubscriptionRow(
        this.client.tableName,
        await this.client.getEntity<SubscriptionRow>(PARTITION, id),
      );
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** Every subscription, oldest first (they are few: MAX_SUBSCRIPTIONS). */
  async list(): Promise<Subscription[]> {
    await this.ensureTable();
    const out: Subscription[] = [];
    for await (const row of this.client.listEntities<SubscriptionRow>({
      queryOptions: { filter: `PartitionKey eq ${odataString(PARTITION)}` },
    }))
      out.push(fromSubscriptionRow(this.client.tableName, row));
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Deletes it; false when there was none. */
  async delete(id: string): Promise<boolean> {
    await this.ensureTable();
    try {
      await this.client.deleteEntity(PARTITION, id);
      return true;
    } catch (error) {
      if (statusCodeOf(error) === 404) return false;
      throw error;
    }
  }
}

/** One attempt to deliver one event to one subscription. */
export interface Delivery {
  subscriptionId: string;
  eventId: string;
  eventType: EventType;
  attempt: number;
  /** Delivered (a 2xx answer), Failed (will be tried again), GaveUp (the last attempt failed, or it never can succeed). */
  result: "Delivered" | "Failed" | "GaveUp";
  /** The answer's HTTP status, when there was one. */
  status?: number;
  /** Why it failed (an error's text, cut short), when it did. */
  error?: string;
  at: string;
  durationMs: number;
}

interface DeliveryRow extends Omit<Delivery, "subscriptionId"> {
  partitionKey: string;
  rowKey: string;
  schemaVersion?: number;
}

const MAX_TIME = 8_640_000_000_000_000;

export class DeliveryLog {
  private readonly ensureTable: () => Promise<void>;

  constructor(private readonly client: TableClient) {
    this.ensureTable = tableInitializer(client);
  }

  /** Records an attempt (an activity that runs twice records its two runs, each with its own time). */
  async record(d: Delivery): Promise<void> {
    await this.ensureTable();
    const inverted = String(MAX_TIME - Date.parse(d.at)).padStart(16, "0");
    const { subscriptionId, ...rest } = d;
    await this.client.upsertEntity<DeliveryRow>(
      {
        partitionKey: subscriptionId,
        rowKey: `${inverted}|${d.eventId}|${String(d.attempt).padStart(3, "0")}`,
        ...schemaVersionColumn(),
        ...rest,
        ...(d.error !== undefined ? { error: d.error.slice(0, 500) } : {}),
      },
      "Replace",
    );
  }

  /** One page of a subscription's deliveries, newest first. */
  async list(
    subscriptionId: string,
    options: { top?: number; continuationToken?: string } = {},
  ): Promise<{ items: Delivery[]; continuationToken?: string }> {
    await this.ensureTable();
    const page = await queryPage<DeliveryRow>(
      this.client,
      `PartitionKey eq ${odataString(subscriptionId)}`,
      options.top ?? 50,
      options.continuationToken,
    );
    return {
      ...page,
      items: page.items.map((row) => ({
        subscriptionId,
        eventId: row.eventId,
        eventType: row.eventType,
        attempt: row.attempt,
        result: row.result,
        ...(row.status !== undefined ? { status: row.status } : {}),
        ...(row.error !== undefined ? { error: row.error } : {}),
        at: row.at,
        durationMs: row.durationMs,
      })),
    };
  }
}
