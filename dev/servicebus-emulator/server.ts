/**
 * The AMQP 1.0 face of one namespace, on rhea: CBS (`$cbs` put-token), links to queues and their
 * dead-letter queues (send, peek-lock and receive-and-delete receive with credit and drain done right,
 * settlement of every disposition), sessions, and the `$management` request/response operations the
 * Service Bus client uses. Every failure is an AMQP error to that client; nothing here may throw into
 * rhea's event loop.
 */
import type { Server } from "node:net";
import { create_container, types } from "rhea";
import { allowed, Grant } from "./auth";
import type { Right } from "./config";
import { BrokerError, errors } from "./errors";
import { Namespace, ResolvedEntity } from "./namespace";
import type { AmqpMessage, Consumer, StoredMessage } from "./queue";
import {
  BATCH_FORMAT,
  decodeMessage,
  encodeMessage,
  guidBytesFromUuid,
  lockTokenOf,
  longOf,
  deliveryState,
  RheaConnection,
  RheaContext,
  RheaDelivery,
  RheaLink,
  rfcBytesFromUuid,
  ticksLong,
  wrapLong,
} from "./amqp";

export const MAX_MESSAGE_BYTES = 256 * 1024;
const SESSION_FILTER = "com.microsoft:session-filter";
/** $management operations that change persisted state: answered only once the change is on disk. */
const CHANGING_OPERATIONS = new Set([
  "schedule-message",
  "cancel-scheduled-message",
  "receive-by-sequence-number",
  "update-disposition",
  "set-session-state",
]);

export interface Logger {
  (level: "debug" | "info" | "warn" | "error", message: string, props?: Record<string, unknown>): void;
}

interface ConnectionState {
  grants: Grant[];
  replyLinks: Map<string, RheaLink>;
  consumers: Set<LinkConsumer>;
}

type LinkRole =
  | { kind: "cbs" }
  | { kind: "management"; entity: ResolvedEntity }
  | { kind: "reply" }
  | { kind: "send"; entity: ResolvedEntity }
  | { kind: "receive"; consumer: LinkConsumer };

class LinkConsumer implements Consumer {
  readonly id: string;
  sessionId?: string;
  readonly deliveries = new WeakMap<RheaDelivery, string>();
  /**
   * Ids of deliveries handed to rhea but not yet transmitted. rhea takes link credit only when it
   * transmits (later, on its own tick), so without this a burst of hand-outs would lock every available
   * message for a receiver that asked for one; the surplus would sit untransmitted until its lock expired.
   */
  private readonly unsent: number[] = [];
  /** Receive-and-delete deliveries waiting for their removal to be on disk before they are sent. */
  held = 0;

  constructor(
    readonly link: RheaLink,
    readonly entity: ResolvedEntity,
    readonly peekLock: boolean,
    private readonly afterDurable: Namespace["afterDurable"],
  ) {
    this.id = link.name;
  }

  capacity(): number {
    if (!this.link.is_open()) return 0;
    const outgoing = this.link.session.outgoing;
    while (this.unsent.length > 0 && (this.unsent[0] as number) < outgoing.next_pending_delivery)
      this.unsent.shift();
    // Never exceed the link credit nor the session's window of unsettled deliveries (rhea throws).
    return Math.min(this.link.credit - this.unsent.length - this.held, outgoing.available());
  }

  deliver(m: StoredMessage): void {
    this.entity.queue.stats.messagesDelivered++;
    if (this.peekLock) return this.transmit(m);
    // A receive-and-delete delivery is settled as it leaves: its removal must be durable first, or a
    // crash would hand the message out again.
    this.held++;
    this.afterDurable(() => {
      this.held--;
      if (this.link.is_open()) this.transmit(m);
    });
  }

  private transmit(m: StoredMessage): void {
    const tag = this.peekLock && m.lockToken ? guidBytesFromUuid(m.lockToken) : Buffer.alloc(0);
    const delivery = this.link.send(outgoing(m), tag.length ? tag : undefined);
    this.unsent.push(delivery.id);
    if (this.peekLock && m.lockToken) this.deliveries.set(delivery, m.lockToken);
  }
}

/** The message as a receiver sees it: the sender's message plus the broker's annotations. */
function outgoing(m: StoredMessage): Record<string, unknown> {
  const annotations: Record<string, unknown> = {
    ...(m.amqp.message_annotations ?? {}),
    "x-opt-sequence-number": wrapLong(m.seq),
    "x-opt-enqueued-time": new Date(m.enqueuedAt),
  };
  if (m.lockedUntil !== undefined) annotations["x-opt-locked-until"] = new Date(m.lockedUntil);
  if (m.state === "deferred") annotations["x-opt-message-state"] = 1;
  if (m.state === "scheduled") annotations["x-opt-message-state"] = 2;
  if (m.deadLetterSource) annotations["x-opt-deadletter-source"] = m.deadLetterSource;
  return { ...m.amqp, delivery_count: m.deliveryCount, message_annotations: annotations };
}

function amqpError(error: unknown): { condition: string; description: string } {
  if (error instanceof BrokerError) return { condition: error.condition, description: error.message };
  return {
    condition: "amqp:internal-error",
    description: error instanceof Error ? error.message : String(error),
  };
}

export class NamespaceServer {
  private readonly container = create_container({ id: "servicebus-emulator" });
  private readonly connections = new Map<RheaConnection, ConnectionState>();
  private readonly roles = new WeakMap<RheaLink, LinkRole>();
  private readonly servers: Server[] = [];

  constructor(
    readonly ns: Namespace,
    private readonly log: Logger = () => {},
  ) {
    const c = this.container as unknown as { on(event: string, handler: (ctx: RheaContext) => void): void };
    const guard = (name: string, fn: (ctx: RheaContext) => void) => (ctx: RheaContext) => {
      try {
        fn(ctx);
      } catch (error) {
        this.log("error", `emulator: ${name} handler failed`, { error: String(error) });
      }
    };
    c.on(
      "connection_open",
      guard("connection_open", (ctx) => {
        this.state(ctx.connection);
        this.ns.counters.connections++;
      }),
    );
    c.on(
      "connection_close",
      guard("connection_close", (ctx) => this.dropConnection(ctx.connection)),
    );
    c.on(
      "disconnected",
      guard("disconnected", (ctx) => this.dropConnection(ctx.connection)),
    );
    c.on(
      "sender_open",
      guard("sender_open", (ctx) => this.onSenderOpen(ctx)),
    );
    c.on(
      "receiver_open",
      guard("receiver_open", (ctx) => this.onReceiverOpen(ctx)),
    );
    c.on(
      "sender_close",
      guard("sender_close", (ctx) => this.onLinkClose(ctx.sender as RheaLink, ctx.connection)),
    );
    c.on(
      "receiver_close",
      guard("receiver_close", (ctx) => this.onLinkClose(ctx.receiver as RheaLink, ctx.connection)),
    );
    c.on(
      "message",
      guard("message", (ctx) => this.onMessage(ctx)),
    );
    c.on(
      "sendable",
      guard("sendable", (ctx) => this.onSendable(ctx.sender as RheaLink)),
    );
    c.on(
      "sender_flow",
      guard("sender_flow", (ctx) => this.onFlow(ctx.sender as RheaLink)),
    );
    c.on(
      "sender_draining",
      guard("sender_draining", (ctx) => this.onDraining(ctx.sender as RheaLink)),
    );
    for (const outcome of ["accepted", "released", "rejected", "modified"]) {
      c.on(
        outcome,
        guard(outcome, (ctx) => this.onDisposition(outcome, ctx)),
      );
    }
    // Errors on connections, sessions and links are the client's business; never crash the emulator.
    for (const event of [
      "error",
      "connection_error",
      "session_error",
      "sender_error",
      "receiver_error",
      "protocol_error",
    ]) {
      c.on(event, (ctx) =>
        this.log("debug", `emulator: ${event}`, { error: String((ctx as RheaContext).error ?? "") }),
      );
    }
  }

  listen(options: { port: number; host: string; tls?: { cert: string; key: string } }): Promise<number> {
    const listenOptions: Record<string, unknown> = {
      port: options.port,
      host: options.host,
      autoaccept: false,
      autosettle: false,
      treat_modified_as_released: false,
      max_frame_size: 4294967295,
      ...(options.tls ? { transport: "tls", cert: options.tls.cert, key: options.tls.key } : {}),
    };
    const server = this.container.listen(listenOptions as never) as unknown as Server;
    this.servers.push(server);
    server.on("connection", (socket) => socket.on("error", () => socket.destroy()));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.once("listening", () => {
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : options.port);
      });
    });
  }

  async close(): Promise<void> {
    for (const conn of this.connections.keys()) {
      try {
        conn.close({ condition: "amqp:connection:forced", description: "The emulator is shutting down." });
      } catch {
        // already gone
      }
    }
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            // Sockets still open after the close frame are cut.
            setTimeout(() => resolve(), 500).unref();
          }),
      ),
    );
    for (const state of this.connections.values())
      for (const consumer of state.consumers) consumer.entity.queue.detach(consumer);
    this.connections.clear();
  }

  // ---- connection bookkeeping ----------------------------------------------------------------------

  private state(conn: RheaConnection): ConnectionState {
    let s = this.connections.get(conn);
    if (!s) {
      s = { grants: [], replyLinks: new Map(), consumers: new Set() };
      this.connections.set(conn, s);
    }
    return s;
  }

  private dropConnection(conn: RheaConnection): void {
    const s = this.connections.get(conn);
    if (!s) return;
    for (const consumer of s.consumers) consumer.entity.queue.detach(consumer);
    this.connections.delete(conn);
  }

  private authorize(conn: RheaConnection, entity: string, right: Right): void {
    if (!allowed(this.state(conn).grants, entity, right)) {
      throw errors.unauthorized(
        `Unauthorized access. '${right}' claim(s) are required to perform this operation. Resource: 'sb://${this.ns.config.Fqdn ?? this.ns.config.Name}/${entity.toLowerCase()}'.`,
      );
    }
  }

  private refuse(link: RheaLink, error: unknown): void {
    const e = amqpError(error);
    this.log("debug", "emulator: link refused", { link: link.name, ...e });
    link.close(e);
  }

  // ---- links ---------------------------------------------------------------------------------------

  /** The client opened a receiver: we send on it (queue messages, or CBS/management replies). */
  private onSenderOpen(ctx: RheaContext): void {
    const link = ctx.sender as RheaLink;
    const conn = ctx.connection;
    const source = link.remote.attach?.source ?? undefined;
    const address = source?.address ?? "";
    const target = link.remote.attach?.target?.address;
    // Replies to $cbs and $management requests are routed by link name (the CBS receiver has no target).
    if (address === "$cbs" || /\/\$management$/i.test(address) || (target && target === link.name)) {
      this.roles.set(link, { kind: "reply" });
      this.state(conn).replyLinks.set(link.name, link);
      return;
    }
    try {
      const entity = this.ns.resolve(address);
      this.authorize(conn, entity.name.split("/")[0] as string, "Listen");
      const peekLock = link.remote.attach?.snd_settle_mode !== 1;
      const consumer = new LinkConsumer(link, entity, peekLock, (then) => this.ns.afterDurable(then));
      this.overrideDrain(link);
      const filter = source?.filter;
      if (entity.queue.requiresSession) {
        this.attachSession(link, consumer, filter);
        return;
      }
      if (filter && SESSION_FILTER in filter) {
        throw errors.notAllowed(`The entity '${entity.name}' does not support sessions.`);
      }
      this.startConsumer(link, consumer, conn);
    } catch (error) {
      this.refuse(link, error);
    }
  }

  private startConsumer(link: RheaLink, consumer: LinkConsumer, conn: RheaConnection): void {
    link.local.attach.max_message_size = MAX_MESSAGE_BYTES;
    this.roles.set(link, { kind: "receive", consumer });
    consumer.entity.queue.stats.receiverAttaches++;
    this.state(conn).consumers.add(consumer);
    consumer.entity.queue.attach(consumer);
  }

  /**
   * A session receiver: lock the named session, or the next free one. With none free the attach is held
   * (up to the client's timeout) until one frees up, as the service does, then fails with a timeout.
   */
  private attachSession(
    link: RheaLink,
    consumer: LinkConsumer,
    filter: Record<string, unknown> | undefined,
  ): void {
    const requested = filter?.[SESSION_FILTER];
    const sessionId = requested === undefined || requested === null ? undefined : String(requested);
    const conn = link.connection;
    const grant = (id: string) => {
      link.set_source({ address: link.remote.attach?.source?.address, filter: { [SESSION_FILTER]: id } });
      link.local.attach.properties = {
        "com.microsoft:locked-until-utc": ticksLong(consumer.entity.queue.sessionLockedUntil(id)),
      };
      this.startConsumer(link, consumer, conn);
    };
    if (sessionId !== undefined) {
      consumer.entity.queue.acceptSession(consumer, sessionId);
      grant(sessionId);
      return;
    }
    const got = consumer.entity.queue.acceptSession(consumer, undefined);
    if (got !== undefined) {
      grant(got);
      return;
    }
    // Hold our attach back (rhea opened the link already) and retry until the client's timeout.
    const held = link.state.open_requests;
    link.state.open_requests = 0;
    const timeoutProp = link.remote.attach?.properties?.["com.microsoft:timeout"];
    const timeoutMs = Math.min(Math.max(Number(timeoutProp ?? 60_000) - 200, 0), 60_000);
    const deadline = Date.now() + timeoutMs;
    const release = () => {
      link.state.open_requests = held;
      conn._register();
    };
    const poll = setInterval(() => {
      try {
        if (!this.connections.has(conn)) {
          clearInterval(poll);
          return;
        }
        const id = consumer.entity.queue.acceptSession(consumer, undefined);
        if (id !== undefined) {
          clearInterval(poll);
          grant(id);
          release();
          consumer.entity.queue.pump();
        } else if (Date.now() >= deadline) {
          clearInterval(poll);
          link.set_source({ address: link.remote.attach?.source?.address });
          release();
          link.close({
            condition: "com.microsoft:timeout",
            description: "No unlocked session was available within the timeout.",
          });
        }
      } catch (error) {
        clearInterval(poll);
        release();
        this.refuse(link, error);
      }
    }, 50);
    poll.unref();
  }

  /** The client opened a sender: it sends us queue messages, CBS or management requests. */
  private onReceiverOpen(ctx: RheaContext): void {
    const link = ctx.receiver as RheaLink;
    const address = link.remote.attach?.target?.address ?? "";
    if (address === "$cbs") {
      this.roles.set(link, { kind: "cbs" });
      return;
    }
    try {
      const management = /\/\$management$/i.exec(address);
      if (management) {
        const entity = this.ns.resolve(address.replace(/\/\$management$/i, ""));
        this.roles.set(link, { kind: "management", entity });
        return;
      }
      const entity = this.ns.resolve(address);
      if (entity.deadLetter) throw errors.notAllowed("Cannot send to a dead-letter queue.");
      this.authorize(ctx.connection, entity.name, "Send");
      link.local.attach.max_message_size = MAX_MESSAGE_BYTES;
      this.roles.set(link, { kind: "send", entity });
      entity.queue.stats.senderAttaches++;
    } catch (error) {
      this.refuse(link, error);
    }
  }

  private onLinkClose(link: RheaLink, conn: RheaConnection): void {
    const role = this.roles.get(link);
    if (role?.kind === "receive") {
      role.consumer.entity.queue.detach(role.consumer);
      this.connections.get(conn)?.consumers.delete(role.consumer);
    } else if (role?.kind === "reply") {
      this.connections.get(conn)?.replyLinks.delete(link.name);
    }
  }

  // ---- credit ------------------------------------------------------------------------------------

  /** Counts receive requests: each credit grant, or drain, a receiver sends. */
  private onFlow(link: RheaLink): void {
    const role = this.roles.get(link);
    if (role?.kind !== "receive") return;
    const stats = role.consumer.entity.queue.stats;
    if (link._draining) stats.drains++;
    else stats.creditFlows++;
  }

  private onSendable(link: RheaLink): void {
    const role = this.roles.get(link);
    if (role?.kind === "receive") role.consumer.entity.queue.pump();
  }

  /**
   * Answer every drain request with a drained flow, including when the credit is already used up;
   * rhea only answers while credit remains, and the client closes a link whose drain goes unanswered.
   */
  private overrideDrain(link: RheaLink): void {
    link._get_drain = function (this: RheaLink) {
      if (this._draining && this._drained) {
        this.delivery_count += this.credit;
        this.credit = 0;
        this._draining = false;
        return true;
      }
      return false;
    };
  }

  private onDraining(link: RheaLink): void {
    const role = this.roles.get(link);
    if (role?.kind === "receive") role.consumer.entity.queue.pump();
    const drained = () => {
      link.set_drained(true);
      link.issue_flow = true;
      link.connection._register();
    };
    // Deliveries still waiting for the disk go out first; a drained link could not carry them.
    if (role?.kind === "receive" && role.consumer.held > 0) this.ns.afterDurable(drained);
    else drained();
  }

  // ---- incoming messages ---------------------------------------------------------------------------

  private onMessage(ctx: RheaContext): void {
    const link = ctx.receiver as RheaLink;
    const delivery = ctx.delivery as RheaDelivery;
    const role = this.roles.get(link);
    if (!role) {
      delivery.update(
        true,
        deliveryState.rejected({ condition: "amqp:not-allowed", description: "Unknown link." }),
      );
      return;
    }
    if (role.kind === "cbs") return this.onCbs(ctx, ctx.message as Record<string, unknown>, delivery);
    if (role.kind === "management")
      return this.onManagement(ctx, role.entity, ctx.message as Record<string, unknown>, delivery);
    if (role.kind !== "send") return;
    try {
      const now = Date.now();
      const batch =
        ctx.format === BATCH_FORMAT || delivery.format === BATCH_FORMAT
          ? this.unbatch(ctx.message as Buffer)
          : [
              {
                message: ctx.message as Record<string, unknown>,
                size: encodeMessage(ctx.message as Record<string, unknown>).length,
              },
            ];
      const stats = role.entity.queue.stats;
      stats.sendCalls++;
      stats.messagesSent += batch.length;
      for (const { size } of batch)
        if (size > MAX_MESSAGE_BYTES) throw errors.tooLarge(size, MAX_MESSAGE_BYTES);
      for (const { message, size } of batch) {
        const scheduled = (message.message_annotations as Record<string, unknown> | undefined)?.[
          "x-opt-scheduled-enqueue-time"
        ];
        const at =
          scheduled instanceof Date
            ? scheduled.getTime()
            : scheduled !== undefined
              ? longOf(scheduled)
              : undefined;
        role.entity.queue.enqueue(message as AmqpMessage, size, now, at);
      }
      this.ns.afterDurable((error) =>
        delivery.update(
          true,
          error === undefined ? deliveryState.accepted() : deliveryState.rejected(amqpError(error)),
        ),
      );
    } catch (error) {
      delivery.update(true, deliveryState.rejected(amqpError(error)));
    }
  }

  private unbatch(
    raw: Buffer | Record<string, unknown>,
  ): { message: Record<string, unknown>; size: number }[] {
    const outer = Buffer.isBuffer(raw) ? decodeMessage(raw) : raw;
    const body = outer.body as { content?: unknown; multiple?: boolean } | undefined;
    const parts = body?.multiple ? (body.content as Buffer[]) : body?.content ? [body.content as Buffer] : [];
    return parts.map((buf) => ({ message: decodeMessage(Buffer.from(buf)), size: buf.length }));
  }

  // ---- settlement ----------------------------------------------------------------------------------

  private onDisposition(outcome: string, ctx: RheaContext): void {
    const link = ctx.sender as RheaLink | undefined;
    const delivery = ctx.delivery as RheaDelivery;
    const role = link ? this.roles.get(link) : undefined;
    if (!role || role.kind !== "receive") {
      delivery.update(true);
      return;
    }
    const token = role.consumer.deliveries.get(delivery);
    if (!token) {
      delivery.update(true);
      return;
    }
    const queue = role.consumer.entity.queue;
    const state = delivery.remote_state ?? {};
    const stats = queue.stats;
    try {
      if (outcome === "accepted") {
        queue.complete(token);
        stats.completed++;
      } else if (outcome === "rejected") {
        const info = (state.error?.info ?? {}) as Record<string, unknown>;
        queue.deadLetter(
          token,
          info.DeadLetterReason === undefined ? undefined : String(info.DeadLetterReason),
          info.DeadLetterErrorDescription === undefined ? undefined : String(info.DeadLetterErrorDescription),
        );
        stats.deadLettered++;
      } else if (outcome === "modified") {
        const annotations = (state.message_annotations ?? {}) as Record<string, unknown>;
        if (state.undeliverable_here) {
          queue.defer(token, annotations);
          stats.deferred++;
        } else {
          queue.abandon(token, annotations);
          stats.abandoned++;
        }
      } else {
        queue.abandon(token);
        stats.abandoned++;
      }
      this.ns.afterDurable((error) => {
        this.settle(
          delivery,
          error === undefined ? outcomeState(outcome, state) : deliveryState.rejected(amqpError(error)),
        );
        // A settled delivery frees a slot in the session window: more may be sent now.
        queue.pump();
      });
    } catch (error) {
      this.settle(delivery, deliveryState.rejected(amqpError(error)));
      queue.pump();
    }
  }

  /**
   * Settles a peek-lock delivery. The client never settles its side after ours (receiver settle mode
   * "second"), so the delivery is marked done here or rhea would keep it in the session window forever.
   */
  private settle(delivery: RheaDelivery, state: unknown): void {
    delivery.update(true, state);
    delivery.remote_settled = true;
  }

  // ---- $cbs ----------------------------------------------------------------------------------------

  private reply(
    conn: RheaConnection,
    request: Record<string, unknown>,
    status: number,
    description: string,
    body?: unknown,
  ): void {
    const replyTo = String(request.reply_to ?? "");
    const link = this.state(conn).replyLinks.get(replyTo);
    if (!link) {
      this.log("debug", "emulator: no reply link", { replyTo });
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

  private onCbs(ctx: RheaContext, request: Record<string, unknown>, delivery: RheaDelivery): void {
    delivery.update(true, deliveryState.accepted());
    const props = (request.application_properties ?? {}) as Record<string, unknown>;
    if (props.operation !== "put-token") {
      this.reply(ctx.connection, request, 400, `Unsupported CBS operation '${String(props.operation)}'.`);
      return;
    }
    try {
      const audience = String(props.name ?? "");
      const grant = this.ns.authorizer.verify(String(props.type ?? ""), String(request.body ?? ""), audience);
      const state = this.state(ctx.connection);
      state.grants = state.grants.filter((g) => g.expiresAt > Date.now());
      state.grants.push(grant);
      this.ns.counters.cbsPutTokens++;
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

  private onManagement(
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
      if (CHANGING_OPERATIONS.has(operation)) this.ns.afterDurable(answer);
      else answer();
    } catch (error) {
      this.replyError(ctx.connection, request, error);
    }
  }

  private replyError(conn: RheaConnection, request: Record<string, unknown>, error: unknown): void {
    const e = amqpError(error);
    const status = error instanceof BrokerError ? error.statusCode : 500;
    const link = this.state(conn).replyLinks.get(String(request.reply_to ?? ""));
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
    const listen = () => this.authorize(conn, queueName, "Listen");
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
        this.authorize(conn, queueName, "Send");
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
        this.authorize(conn, queueName, "Send");
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

function outcomeState(outcome: string, state: Record<string, unknown>): unknown {
  switch (outcome) {
    case "accepted":
      return deliveryState.accepted();
    case "rejected":
      // Dead-lettering succeeded: settle without the error, which the client would read as a failure.
      return deliveryState.rejectedWith({});
    case "modified":
      return deliveryState.modified(state);
    default:
      return deliveryState.released();
  }
}
