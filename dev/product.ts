/**
 * The one place in dev/ that imports product code (lib/, customer/, orchestrators/, activities/,
 * triggers/). The dev host runs the product the way Azure does: it loads the app's compiled entry
 * points by path (dev/host/app.ts) and talks to it only through the Functions programming model, so the
 * local runtime stays a stand-in for Azure and never links to product internals. The few things dev/
 * does share with the product are re-exported here, each with the reason; anything else dev/ needs
 * from product code is a design question first. Enforced by lint (eslint.config.mjs; proved in
 * test/lint/boundaries.test.ts). Product code never imports dev/ at all.
 */

/**
 * The Service Bus trigger (dev/host/servicebus.ts) reads its `connection` setting exactly as the
 * product's own clients do, and settles a message under the same gate, so the host behaves like the
 * Functions host would with the product's settings.
 */
export { serviceBusClientFromSetting } from "../lib/messaging/connection-setting";
export { SettlementGate } from "../lib/messaging/settlement-gate";

/**
 * The emulated Durable management API (dev/durable/management-api.ts) pages instance lists with the
 * same continuation-token format the product validates.
 */
export { isContinuationToken } from "../lib/storage/tables";

/**
 * `npm run chaos` (dev/chaos.ts) sends bad statuses built with the product's status contract and reads
 * the customer agent's instance histories (instance ids, step activity name), so it uses their contract
 * rather than a copy that could drift.
 */
export { healthCheckOf, probeCount, statusMessage } from "../lib/messaging/contracts";
export { AGENT_ACTIVITIES, agentInstanceId } from "../customer/agent/orchestration";

/**
 * The dev host writes its console lines (dev/host/index.ts) with the product's log format and level
 * filter, so `LOG_LEVEL` and `LOG_FORMAT` mean the same for the host's lines and the app's.
 */
export { consoleLogSettings, formatLogLine, levelEnabled } from "../lib/logging/format";

/** The durable engine compares orchestration versions by the same rule the product branches on. */
export { compareVersions } from "../lib/durable/version";

/**
 * The benchmarks' light agents share one process (dev/in-memory-agents.ts): they run the agent's own command handling, demo deployer and status contract,
 * so they answer exactly as the real agent would, without a task hub each.
 */
export { createCommandHandler, type AgentInstances } from "../customer/agent/commands";
export { commandSettler, RECEIVER_OPTIONS } from "../customer/agent/command-receiver";
export { demoDeployer } from "../customer/agent/deployer";
export type { AgentInput } from "../customer/agent/orchestration";
export { agentStatus } from "../customer/agent/status";
export type { Status, StatusState } from "../lib/messaging/contracts";
export { createLogger } from "../lib/logging/logger";

// dev/signing-key.ts: `npm start`'s local command-signing key and the public keys the agents pin.
export { localSigningKey, publicKeySet } from "../lib/signing/keys";

/**
 * `npm start` subscribes its local webhook receiver (dev/webhook-receiver.ts) to every event type the
 * product publishes, from the product's own list, so a new event type is received without an edit here.
 */
export { EVENT_TYPES } from "../lib/notifications/model";

/**
 * `npm run demo`'s tenant-parameters scenario (dev/demo-features.ts) checks that a deployment record's
 * `specDigest` is the digest of the spec its orchestration sent, by the product's own digest rule.
 */
export { specDigest } from "../lib/deployments/model";
