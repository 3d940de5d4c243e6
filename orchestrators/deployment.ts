/** Registers the `deployment` orchestration (one per deployment attempt); logic in lib/deployments/workflow.ts. */
import * as df from "durable-functions";
import { deploymentOrchestrator, ORCHESTRATIONS } from "../lib/deployments/workflow";

df.app.orchestration(ORCHESTRATIONS.deployment, deploymentOrchestrator);
