/** Registers the deployments HTTP API; logic lives in lib/deployments/http.ts. */
import * as df from "durable-functions";
import { createDeploymentHandlers } from "../lib/deployments/http";
import { runtime } from "../lib/deployments/runtime";
import { routeOptions } from "../lib/http/routes";

const handlers = createDeploymentHandlers(runtime);

df.app.client.http("deploymentsStart", {
  ...routeOptions("deploymentsStart"),
  authLevel: "function",
  handler: handlers.start,
});
df.app.client.http("deploymentsCancel", {
  ...routeOptions("deploymentsCancel"),
  authLevel: "function",
  handler: handlers.cancel,
});
df.app.client.http("deploymentsGet", {
  ...routeOptions("deploymentsGet"),
  authLevel: "function",
  handler: handlers.get,
});
df.app.client.http("deploymentsList", {
  ...routeOptions("deploymentsList"),
  authLevel: "function",
  handler: handlers.list,
});
df.app.client.http("deploymentsRetry", {
  ...routeOptions("deploymentsRetry"),
  authLevel: "function",
  handler: handlers.retry,
});
df.app.client.http("deploymentsRewind", {
  ...routeOptions("deploymentsRewind"),
  authLevel: "function",
  handler: handlers.rewind,
});
df.app.client.http("deploymentsTerminate", {
  ...routeOptions("deploymentsTerminate"),
  authLevel: "function",
  handler: handlers.terminate,
});
