/**
 * App lifecycle: on shutdown close the pooled customer Service Bus connections, so a stopping worker (or a
 * dev host stopped inside a test) leaves no connection retrying against a namespace.
 */
import { app } from "@azure/functions";
import { closeRuntime } from "../lib/deployments/runtime";

app.hook.appTerminate(() => closeRuntime());
