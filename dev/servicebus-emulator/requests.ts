/**
 * The request/response side of the AMQP face: `$cbs` put-token (a connection's grants) and the
 * `$management` operations the Service Bus client uses (renew-lock, peek, schedule, cancel, receive
 * deferred, update-disposition, session lock and state). Requests arrive on the links server.ts gives
 * them; answers go out on the connection's reply link named by `reply_to`. An operation that changes
 * persisted state is answered only once the change is on disk. Split out of server.ts, which owns the
 * connections and links; it reaches them through `RequestHost`.
 */
import { types } from "rhea";
import {
  decodeMessage,
  deliveryState,
  encodeMessage,
  lockTokenOf,
  longOf,
  MAX_MESSAGE_BYTES,
  RheaConnection,
  RheaContext,
  RheaDelivery,
  RheaLink,
  rfcBytesFromUuid,
} from "./amqp";
import type { Grant } from "./auth";
import type { Right } from "./config";
import { outgoing } from "./consumer";
import { amqpError, BrokerError, errors, Logger } from "./errors";
import type { Namespace, ResolvedEntity } from "./namespace";
import type { AmqpMessage } from "./message";

/** $management operations that change persisted state: answered only once the change is on disk. */
const CHANGING_OPERATIONS = new Set([
  "schedule-message",
  "cancel-scheduled-message",
  "receive-by-sequence-number",
  "update-disposition",
  "set-session-state",
]);

/** What a connection holds for requests: its CBS grants and its reply links by name. */
export interface RequestConnectionState {
  grants: Grant[];
  replyLinks: Map<string, RheaLink>;
}

/** The protocol server, as the request handlers see it. */
export interface RequestHost {
  readonly ns: Namespace;
  readonly log: Logger;
  /** The connection's state (made on first use). */
  state(conn: RheaConnection): RequestConnectionState;
  /** Throws `UnauthorizedAccess` unless the connection's grants carry the right on the entity. */
  authorize(conn: RheaConnection, entity: string, right: Right): void;
}

export class RequestHandlers {
  constructor(private readonly host: RequestHost) {}

  // ---- $cbs ----------------------------------------------------------------------------------------

  private reply(
    conn: RheaConnection,
    request: Record<string, unknown>,
    status: number,
    description: string,
    body?: unknown,
  ): void {
    const replyTo = String(request.reply_to ?? "");
    const link = this.host.state(conn).replyLinks.get(replyTo);
    if (!link) {
      this.host.log("debug", "emulator: no reply link", { replyTo });
      return;
    }
    link.send({
      correlation_id: request.message_id,
      to: replyTo,
      application_properties: {
        statusCode: status,
        statusDescription: description,
        "status-code": status,
        "status-description": description,
      },
      body: body === undefined ? null : body,
    });
  }

  onCbs(ctx: RheaContext, request: Record<string, unknown>, delivery: RheaDelivery): void {
    delivery.update(true, deliveryState.accepted());
    const props = (request.application_properties ?? {}) as Record<string, unknown>;
    if (props.operation !== "put-token") {
      this.reply(ctx.connection, request, 400, `Unsupported CBS operation '${String(props.operation)}'.`);
      return;
    }
    try {
      const audience = String(props.name ?? "");
      const grant = this.host.ns.authorizer.verify(
        String(props.type ?? ""),
        String(request.body ?? ""),
        audience,
      );
      const state = this.host.state(ctx.connection);
      state.grants = state.grants.filter((g) => g.expiresAt > Date.now());
      state.grants.push(grant);
      this.host.ns.counters.cbsPutTokens++;
      this.reply(ctx.connection, request, 202, "Accepted");
    } catch (error) {
      const e = amqpError(error);
      this.reply(
        ctx.connection,
        request,
        error instanceof BrokerError ? error.statusCode : 500,
        e.description,
      );
    }
  }

  // ---- $management ---------------------------------------------------------------------------------

  onManagement(
    ctx: RheaContext,
    entity: ResolvedEntity,
    request: Record<string, unknown>,
    delivery: RheaDelivery,
  ): void {
    delivery.update(true, deliveryState.accepted());
    const props = (request.application_properties ?? {}) as Record<string, unknown>;
    const operation = String(props.operation ?? "").replace(/^com\.microsoft:/, "");
    const body = (request.body ?? {}) as Record<string, unknown>;
    try {
      const result = this.management(ctx.connection, entity, operation, body);
      const answer = (error?: unknown) => {
        if (error !== undefined) this.replyError(ctx.connection, request, error);
        else if (result === undefined) this.reply(ctx.connection, request, 204, "No Content", {});
        else this.reply(ctx.connection, request, 200, "OK", result);
      };
      if (CHANGING_OPERATIONS.has(operation)) this.host.ns.afterDurable(answer);
      else answer();
    } catch (error) {
      this.replyError(ctx.connection, request, error);
    }
  }

  private replyError(conn: RheaConnection, request: Record<string, unknown>, error: unknown): void {
    const e = amqpError(error);
    const status = error instanceof BrokerError ? error.statusCode : 500;
    const link = this.host.state(conn).replyLinks.get(String(request.reply_to ?? ""));
    link?.send({
      correlation_id: request.message_id,
      application_properties: {
        statusCode: status,
        statusDescription: e.description,
        "error-condition": e.condition,
      },
      body: null,
    });
  }

  private management(
    conn: RheaConnection,
    entity: ResolvedEntity,
    operation: string,
    body: Record<string, unknown>,
  ): unknown {
    const queue = entity.queue;
    queue.stats.managementOps++;
    const queueName = entity.name.split("/")[0] as string;
    const listen = () => this.host.authorize(conn, queueName, "Listen");
    const tokens = () => ((body["lock-tokens"] ?? []) as unknown[]).map(lockTokenOf);
    const seqs = () => ((body["sequence-numbers"] ?? []) as unknown[]).map(longOf);
    const sessionId =
      body["session-id"] === undefined || body["session-id"] === null
        ? undefined
        : String(body["session-id"]);
    switch (operation) {
      case "renew-lock": {
        listen();
        return { expirations: tokens().map((t) => new Date(queue.renewLock(t))) };
      }
      case "peek-message": {
        listen();
        const from = longOf(body["from-sequence-number"] ?? 1);
        const count = Number(body["message-count"] ?? 1);
        const found = queue.peek(from, count, sessionId);
        if (found.length === 0) return undefined;
        return {
          messages: found.map((m) => ({
            message: encodeMessage(outgoing({ ...m, lockedUntil: undefined })),
          })),
        };
      }
      case "schedule-message": {
        this.host.authorize(conn, queueName, "Send");
        const items = (body.messages ?? []) as Record<string, unknown>[];
        const now = Date.now();
        const numbers: unknown[] = [];
        for (const item of items) {
          const raw = Buffer.from(item.message as Buffer);
          if (raw.length > MAX_MESSAGE_BYTES) throw errors.tooLarge(raw.length, MAX_MESSAGE_BYTES);
          const message = decodeMessage(raw);
          const annotated = (message.message_annotations ?? {}) as Record<string, unknown>;
          const at = annotated["x-opt-scheduled-enqueue-time"];
          const time = at instanceof Date ? at.getTime() : at !== undefined ? longOf(at) : now;
          const stored = queue.enqueue(message as AmqpMessage, raw.length, now, Math.max(time, now + 1));
          queue.stats.messagesSent++;
          if (stored) numbers.push(Buffer.from(wrapLongBytes(stored.seq)));
        }
        return { "sequence-numbers": types.wrap_array(numbers, 0x81, undefined) };
      }
      case "cancel-scheduled-message": {
        this.host.authorize(conn, queueName, "Send");
        for (const seq of seqs()) queue.cancelScheduled(seq);
        return {};
      }
      case "receive-by-sequence-number": {
        listen();
        const peekLock = Number(body["receiver-settle-mode"] ?? 1) !== 0;
        const found = queue.receiveDeferred(seqs(), peekLock, sessionId);
        queue.stats.messagesDelivered += found.length;
        return {
          messages: found.map((m) => ({
            ...(m.lockToken ? { "lock-token": types.wrap_uuid(rfcBytesFromUuid(m.lockToken)) } : {}),
            message: encodeMessage(outgoing(m)),
          })),
        };
      }
      case "update-disposition": {
        listen();
        const status = String(body["disposition-status"] ?? "");
        const modify = (body["properties-to-modify"] ?? undefined) as Record<string, unknown> | undefined;
        for (const token of tokens()) {
          if (status === "completed") {
            queue.complete(token);
            queue.stats.completed++;
          } else if (status === "abandoned") {
            queue.abandon(token, modify);
            queue.stats.abandoned++;
          } else if (status === "defered" || status === "deferred") {
            queue.defer(token, modify);
            queue.stats.deferred++;
          } else if (status === "suspended") {
            queue.deadLetter(
              token,
              body["deadletter-reason"] === undefined ? undefined : String(body["deadletter-reason"]),
              body["deadletter-description"] === undefined
                ? undefined
                : String(body["deadletter-description"]),
              modify,
            );
            queue.stats.deadLettered++;
          } else throw errors.badRequest(`Unknown disposition status '${status}'.`);
        }
        return {};
      }
      case "renew-session-lock": {
        listen();
        return { expiration: new Date(queue.renewSessionLock(sessionId ?? "")) };
      }
      case "get-session-state": {
        listen();
        const state = queue.getSessionState(sessionId ?? "");
        return { "session-state": state ?? null };
      }
      case "set-session-state": {
        listen();
        const raw = body["session-state"];
        queue.setSessionState(
          sessionId ?? "",
          raw === undefined || raw === null ? undefined : Buffer.from(raw as Buffer),
        );
        return {};
      }
      default:
        throw new BrokerError(
          "amqp:not-implemented",
          `The operation '${operation}' is not supported by the emulator.`,
          501,
        );
    }
  }
}

function wrapLongBytes(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
}
