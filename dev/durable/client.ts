/**
 * A real `DurableClient` for an engine outside a function invocation (tests, benchmarks): the SDK builds
 * it from the same binding data a `durableClient` input binding receives.
 */
import { InvocationContext } from "@azure/functions";
import * as df from "durable-functions";
import type { DurableEngine } from "../host/durable-contract";

export function durableClientFor(engine: DurableEngine): df.DurableClient {
  const binding = df.input.durableClient();
  const context = new InvocationContext({
    functionName: "client",
    invocationId: "client",
    options: { trigger: { type: "httpTrigger", name: "req" }, extraInputs: [binding], extraOutputs: [] },
  });
  context.extraInputs.set(binding, engine.clientBindingData());
  return df.getClient(context);
}
