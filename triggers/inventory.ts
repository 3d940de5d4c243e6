/** Registers `GET /api/inventory`; logic lives in lib/inventory. */
import { app } from "@azure/functions";
import { runtime } from "../lib/app/runtime";
import { routeOptions } from "../lib/http/routes";
import { createInventoryHandlers } from "../lib/inventory/http";

const handlers = createInventoryHandlers(runtime);

app.http("inventoryGet", { ...routeOptions("inventoryGet"), authLevel: "function", handler: handlers.get });
