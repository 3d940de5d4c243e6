/** The agent's orchestration instances through the Durable client (the trigger's `durableClient` input). */
import type { DurableClient } from "durable-functions";
import type { AgentInstances } from "./commands";
import { AGENT_EVENTS, AGENT_ORCHESTRATION } from "./orchestration";

const isNotFound = (error: unknown) => error instanceof Error && /HTTP 404/.test(error.message);

export function durableInstances(client: DurableClient): AgentInstances {
  return {
    async status(instanceId) {
      try {
        return String((await client.getStatus(instanceId)).runtimeStatus);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error; // the task hub is unreachable: fail the invocation, the message is delivered again
      }
    },
    async start(instanceId, input) {
      await client.startNew(AGENT_ORCHESTRATION, { instanceId, input });
    },
    async raiseCancel(instanceId, event) {
      // The client answers a 410 (the instance finished meanwhile) without an error: nothing to cancel.
      await client.raiseEvent(instanceId, AGENT_EVENTS.cancel, event);
    },
  };
}
