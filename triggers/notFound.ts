/**
 * The catch-all route: every request under the route prefix that no other function takes (unknown path,
 * or a known path with another method). Routes with literal segments or parameters take precedence over
 * `{*path}`, and the host's own routes (`/runtime/webhooks/...`, `/admin/...`) are outside the prefix.
 * Anonymous, so an unknown path needs no key to learn it is unknown. Logic in lib/http/not-found.ts.
 */
import { app } from "@azure/functions";
import { notFoundHandler } from "../lib/http/not-found";

app.http("notFound", {
  methods: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
  route: "{*path}",
  authLevel: "anonymous",
  handler: notFoundHandler,
});
