/** Serves the operator dashboard at /api/dashboard; the page itself holds no data (it calls the API). */
import { app } from "@azure/functions";
import { dashboardResponse } from "../lib/dashboard/page";
import { routeOptions } from "../lib/http/routes";

app.http("dashboard", {
  ...routeOptions("dashboard"),
  authLevel: "anonymous",
  handler: () => dashboardResponse(),
});
