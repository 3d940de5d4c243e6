/** Registers the per-tenant `statusPump` orchestration; logic in lib/deployments/workflow.ts. */
import * as df from "durable-functions";
import { ORCHESTRATIONS, statusPumpOrchestrator } from "../lib/deployments/workflow";

df.app.orchestration(ORCHESTRATIONS.statusPump, statusPumpOrchestrator);
