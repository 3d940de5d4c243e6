/**
 * Small typed views of the rhea objects the emulator touches, and AMQP encoding helpers. rhea's own
 * typings model a client; the broker side needs a few more fields (remote attach, credit, drain state).
 */
import { message as rheaMessage, types } from "rhea";

export interface RheaDelivery {
  /** Session-scoped, increasing. */
  id: number;
  tag: Buffer;
  format?: number;
  remote_state?: {
    error?: { condition?: string; info?: Record<string, unknown> };
    [k: string]: unknown;
  } & Record<string, unknown>;
  update(settled: boolean, state?: unknown): void;
  accept(): void;
  reject(error?: { condition: string; description: string }): void;
  settled?: boolean;
  remote_settled?: boolean;
}

export interface RheaLink {
  name: string;
  credit: number;
  connection: RheaConnection;
  session: { outgoing: { available(): number; next_pending_delivery: number } };
  remote: {
    attach?: {
      source?: { address?: string; filter?: Record<string, unknown> } | null;
      target?: { address?: string } | null;
      rcv_settle_mode?: number;
      snd_settle_mode?: number;
      properties?: Record<string, unknown>;
    };
  };
  local: { attach: Record<string, unknown> };
  state: { open_requests: number };
  is_sender(): boolean;
  is_open(): boolean;
  close(error?: { condition: string; description: string }): void;
  send(message: unknown, tag?: Buffer, format?: number): RheaDelivery;
  set_drained(drained: boolean): void;
  set_source(fields: Record<string, unknown>): void;
  _draining: boolean;
  _drained: boolean;
  _get_drain: () => boolean;
  delivery_count: number;
  issue_flow: boolean;
  sendable(): boolean;
}

export interface RheaConnection {
  options: { id?: string };
  close(error?: { condition: string; description: string }): void;
  _register(): void;
}

export interface RheaContext {
  connection: RheaConnection;
  sender?: RheaLink;
  receiver?: RheaLink;
  delivery?: RheaDelivery;
  message?: Record<string, unknown> | Buffer;
  format?: number;
  error?: unknown;
}

/** Lock tokens travel as AMQP delivery tags in .NET GUID byte order. */
export function guidBytesFromUuid(uuid: string): Buffer {
  const b = Buffer.from(uuid.replace(/-/g, ""), "hex");
  return Buffer.concat([
    Buffer.from([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]] as number[]),
    b.subarray(8),
  ]);
}

export function uuidFromRfcBytes(b: Buffer): string {
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function rfcBytesFromUuid(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ""), "hex");
}

/** A lock token from a management request: an AMQP uuid (Buffer) or a string. */
export function lockTokenOf(value: unknown): string {
  if (Buffer.isBuffer(value)) return uuidFromRfcBytes(value);
  return String(value).toLowerCase();
}

/** AMQP longs arrive as numbers when small, as 8-byte big-endian buffers when not. */
export function longOf(value: unknown): number {
  if (Buffer.isBuffer(value)) return Number(value.readBigInt64BE(0));
  if (typeof value === "bigint") return Number(value);
  return Number(value);
}

export function wrapLong(n: number): unknown {
  return types.wrap_long(n);
}

/** .NET ticks (100 ns since 0001-01-01) as an 8-byte AMQP long, as Service Bus sends lock expiries on links. */
export function ticksLong(ms: number): unknown {
  const ticks = BigInt(ms) * 10000n + 621355968000000000n;
  const buf = Buffer.alloc(8);
  buf.writeBigInt64BE(ticks);
  return types.wrap_long(buf);
}

export const BATCH_FORMAT = 0x80013700;

/** The largest message a queue accepts (the Standard tier's 256 KB). */
export const MAX_MESSAGE_BYTES = 256 * 1024;

export function encodeMessage(message: Record<string, unknown>): Buffer {
  return rheaMessage.encode(message as never) as Buffer;
}

export function decodeMessage(buffer: Buffer): Record<string, unknown> {
  return rheaMessage.decode(buffer) as unknown as Record<string, unknown>;
}

interface Described {
  described(): unknown;
}
const outcomes = rheaMessage as unknown as {
  accepted(): Described;
  rejected(state?: unknown): Described;
  modified(state?: unknown): Described;
  released(): Described;
};

/** Delivery states for settling: accepted, rejected (with an AMQP error), modified, released. */
export const deliveryState = {
  accepted: () => outcomes.accepted().described(),
  rejected: (error: { condition: string; description: string }) => outcomes.rejected({ error }).described(),
  rejectedWith: (state: Record<string, unknown>) => outcomes.rejected(state).described(),
  modified: (state: Record<string, unknown>) => outcomes.modified(state).described(),
  released: () => outcomes.released().described(),
};
