/**
 * App lifecycle: at start, say once why the API will refuse to serve if role checks are on without App
 * Service Authentication (lib/http/platform-auth.ts); on a graceful shutdown, close the pooled Service Bus
 * clients so an in-flight status pump's long-poll ends now rather than at its wait time (its messages
 * stay locked and are redelivered; the activity reruns on the next start).
 */
import { app } from "@azure/functions";
import { loadRoleChecks } from "../lib/config/settings";
import { closeRuntime } from "../lib/app/runtime";
import { reportPlatformAuthAtStart } from "../lib/http/platform-auth";
import { createLogger } from "../lib/logging/logger";

app.hook.appStart(() => {
  reportPlatformAuthAtStart(loadRoleChecks(), createLogger());
});
app.hook.appTerminate(() => closeRuntime());
