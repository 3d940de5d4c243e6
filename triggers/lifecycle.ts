/**
 * App lifecycle: on a graceful shutdown, close the pooled Service Bus clients so an in-flight status
 * pump's long-poll ends now rather than at its wait time (its messages stay locked and are redelivered;
 * the activity reruns on the next start).
 */
import { app } from "@azure/functions";
import { closeRuntime } from "../lib/deployments/runtime";

app.hook.appTerminate(() => closeRuntime());
