/** The agent's orchestration instances through the Durable client (the trigger's `durableClient` input). */
import type { DurableClient } from "durable-functions";
import { runtimeStatus } from "../../lib/durable/instances";
import type { AgentInstances } from "./commands";
import { AGENT_EVENTS, AGENT_ORCHESTRATION } from "./orchestration";

export function durableInstances(client: DurableClient): AgentInstances {
  return {
    // An unreachable task hub throws: the invocation fails and the message is delivered again.
    status: (instanceId) => runtimeStatus(client, instanceId),
    async start(instanceId, input) {
      await client.startNew(AGENT_ORCHESTRATION, { instanceId, input });
    },
    async raiseCancel(instanceId, event) {
      // The client answers a 410 (the instance finished meanwhile) without an error: nothing to cancel.
      await client.raiseEvent(instanceId, AGENT_EVENTS.cancel, event);
    },
  };
}
