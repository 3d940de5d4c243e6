/** Registers the deployments HTTP API; logic lives in lib/deployments/http.ts. */
import * as df from "durable-functions";
import { createDeploymentHandlers } from "../lib/deployments/http";
import { runtime } from "../lib/deployments/runtime";

const handlers = createDeploymentHandlers(runtime);

df.app.client.http("deploymentsStart", {
  methods: ["POST"],
  route: "tenants/{tenant}/deployments",
  authLevel: "function",
  handler: handlers.start,
});
df.app.client.http("deploymentsCancel", {
  methods: ["POST"],
  route: "deployments/{id}/cancel",
  authLevel: "function",
  handler: handlers.cancel,
});
df.app.client.http("deploymentsGet", {
  methods: ["GET"],
  route: "deployments/{id}",
  authLevel: "function",
  handler: handlers.get,
});
df.app.client.http("deploymentsList", {
  methods: ["GET"],
  route: "tenants/{tenant}/deployments",
  authLevel: "function",
  handler: handlers.list,
});
df.app.client.http("deploymentsRetry", {
  methods: ["POST"],
  route: "deployments/{id}/retry",
  authLevel: "function",
  handler: handlers.retry,
});
df.app.client.http("deploymentsTerminate", {
  methods: ["POST"],
  route: "deployments/{id}/terminate",
  authLevel: "function",
  handler: handlers.terminate,
});
df.app.client.http("tenantsVerify", {
  methods: ["POST"],
  route: "tenants/{tenant}/verify",
  authLevel: "function",
  handler: handlers.verify,
});
df.app.client.http("tenantsHealth", {
  methods: ["GET"],
  route: "tenants/{tenant}/health",
  authLevel: "function",
  handler: handlers.health,
});
