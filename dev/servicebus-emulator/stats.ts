/**
 * Operation counters of the emulator, per queue (and its dead-letter queue) and per namespace, for
 * measuring what a design costs in broker operations. Plain integer fields, incremented on the hot path.
 *
 * What is counted, per entity:
 * - `senderAttaches` / `receiverAttaches`: links a client opened to send to / receive from it.
 * - `sendCalls`: transfers on a send link (one per send call; a batch is one call), `messagesSent`: the
 *   messages they carried (each message of a batch), plus scheduled sends through `$management`.
 * - `creditFlows`: AMQP flow frames from a receiver that grant credit (a `receiveMessages` call, or a
 *   streaming receiver topping up); `drains`: flow frames asking to drain (a batch receive that timed out
 *   with credit left: the "empty receive"). `receiveRequests` = `creditFlows` + `drains`.
 * - `messagesDelivered`: messages handed to receivers (link transfers and receive-by-sequence-number).
 * - settlements by the client: `completed`, `abandoned`, `deadLettered`, `deferred` (dispositions and
 *   `$management` update-disposition alike).
 * - `managementOps`: `$management` requests on the entity (renew-lock, peek, schedule, ...).
 * Per namespace: `cbsPutTokens` (a client authorising a link) and `connections`.
 */
export interface EntityStats {
  senderAttaches: number;
  receiverAttaches: number;
  sendCalls: number;
  messagesSent: number;
  creditFlows: number;
  drains: number;
  messagesDelivered: number;
  completed: number;
  abandoned: number;
  deadLettered: number;
  deferred: number;
  managementOps: number;
}

export interface EntityStatsView extends EntityStats {
  receiveRequests: number;
  settlements: number;
}

export interface NamespaceStats {
  connections: number;
  cbsPutTokens: number;
  /** By entity name: `status`, `status/$DeadLetterQueue`, ... */
  entities: Record<string, EntityStatsView>;
}

export function newEntityStats(): EntityStats {
  return {
    senderAttaches: 0,
    receiverAttaches: 0,
    sendCalls: 0,
    messagesSent: 0,
    creditFlows: 0,
    drains: 0,
    messagesDelivered: 0,
    completed: 0,
    abandoned: 0,
    deadLettered: 0,
    deferred: 0,
    managementOps: 0,
  };
}

/** A copy with the derived totals. */
export function viewOf(s: EntityStats): EntityStatsView {
  return {
    ...s,
    receiveRequests: s.creditFlows + s.drains,
    settlements: s.completed + s.abandoned + s.deadLettered + s.deferred,
  };
}
