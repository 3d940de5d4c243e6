/** Registers the `verifyTenant` orchestration (Ping → Pong round trip); logic in lib/deployments/workflow.ts. */
import * as df from "durable-functions";
import { ORCHESTRATIONS, verifyOrchestrator } from "../lib/deployments/workflow";

df.app.orchestration(ORCHESTRATIONS.verify, verifyOrchestrator);
