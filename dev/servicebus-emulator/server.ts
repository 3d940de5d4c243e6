/**
 * The AMQP 1.0 face of one namespace, on rhea: connections, links to queues and their dead-letter queues
 * (send, peek-lock and receive-and-delete receive with credit and drain done right, settlement of every
 * disposition) and sessions. The `$cbs` and `$management` request/response operations are in
 * requests.ts, a receiver link as a queue's consumer in consumer.ts; the queue state they act on is in
 * queue.ts. Every failure is an AMQP error to that client; nothing here may throw into rhea's event loop.
 */
import type { Server } from "node:net";
import { create_container } from "rhea";
import { allowed } from "./auth";
import type { Right } from "./config";
import { LinkConsumer } from "./consumer";
import { amqpError, errors, Logger } from "./errors";
import { Namespace, ResolvedEntity } from "./namespace";
import type { AmqpMessage } from "./message";
import { RequestConnectionState, RequestHandlers } from "./requests";
import {
  BATCH_FORMAT,
  decodeMessage,
  encodeMessage,
  longOf,
  deliveryState,
  MAX_MESSAGE_BYTES,
  RheaConnection,
  RheaContext,
  RheaDelivery,
  RheaLink,
  ticksLong,
} from "./amqp";

export type { Logger } from "./errors";

const SESSION_FILTER = "com.microsoft:session-filter";

interface ConnectionState extends RequestConnectionState {
  consumers: Set<LinkConsumer>;
}

type LinkRole =
  | { kind: "cbs" }
  | { kind: "management"; entity: ResolvedEntity }
  | { kind: "reply" }
  | { kind: "send"; entity: ResolvedEntity }
  | { kind: "receive"; consumer: LinkConsumer };

export class NamespaceServer {
  private readonly container = create_container({ id: "servicebus-emulator" });
  private readonly connections = new Map<RheaConnection, ConnectionState>();
  private readonly roles = new WeakMap<RheaLink, LinkRole>();
  private readonly servers: Server[] = [];
  private readonly requests: RequestHandlers;

  constructor(
    readonly ns: Namespace,
    private readonly log: Logger = () => {},
  ) {
    this.requests = new RequestHandlers({
      ns,
      log,
      state: (conn) => this.state(conn),
      authorize: (conn, entity, right) => this.authorize(conn, entity, right),
    });
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
    if (role.kind === "cbs")
      return this.requests.onCbs(ctx, ctx.message as Record<string, unknown>, delivery);
    if (role.kind === "management")
      return this.requests.onManagement(ctx, role.entity, ctx.message as Record<string, unknown>, delivery);
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
