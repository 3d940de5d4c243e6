/**
 * `GET /api/inventory?selector=&release=&behind=`: each tenant's current, previous and in-flight release,
 * and counts by version and by label; `release` keeps the tenants that run that release, `behind` those
 * that run a release below it (or none). Reading needs `Tenants.Read`, `Tenants.Admin` or
 * `Deployments.Read` (when role checks are on). Registered by `triggers/inventory.ts`.
 */
import { z } from "zod";
import type { ProviderSettings } from "../config/settings";
import type { DeploymentLedger } from "../deployments/ledger";
import { requireRole, ROLES } from "../http/auth";
import { apiHandler, json } from "../http/handler";
import { parseWith } from "../http/request";
import { releaseVersion } from "../releases/model";
import { type Selector, selectorParam } from "../tenants/selector";
import type { TenantStore } from "../tenants/store";
import { countInventory, inventoryOf, isBehind, type TenantInventory } from "./inventory";

export interface InventoryApiDeps {
  settings: Pick<ProviderSettings, "requireRoles">;
  store: Pick<TenantStore, "listAll">;
  ledger: Pick<DeploymentLedger, "releaseAttempts">;
}

const querySchema = z.strictObject({
  selector: selectorParam.optional(),
  release: releaseVersion.optional(),
  behind: releaseVersion.optional(),
});

/** The whole fleet's inventory (the tenants the selector matches, all without one). */
export async function fleetInventory(
  deps: Omit<InventoryApiDeps, "settings">,
  selector?: Selector,
): Promise<TenantInventory[]> {
  const [tenants, attempts] = await Promise.all([
    deps.store.listAll(selector),
    deps.ledger.releaseAttempts(),
  ]);
  return inventoryOf(tenants, attempts);
}

export function createInventoryHandlers(getDeps: () => InventoryApiDeps) {
  return {
    get: apiHandler(async (request) => {
      const deps = getDeps();
      requireRole(request, deps.settings.requireRoles, [
        ROLES.tenantsRead,
        ROLES.tenantsAdmin,
        ROLES.deploymentsRead,
        ROLES.deploymentsWrite,
      ]);
      const query = parseWith(querySchema, Object.fromEntries(request.query.entries()));
      let items = await fleetInventory(deps, query.selector);
      if (query.release !== undefined) items = items.filter((i) => i.current?.release === query.release);
      if (query.behind !== undefined) {
        const behind = query.behind;
        items = items.filter((i) => isBehind(i, behind));
      }
      return json(200, { items, counts: countInventory(items) });
    }),
  };
}
