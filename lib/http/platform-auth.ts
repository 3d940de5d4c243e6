/**
 * Role checks trust the `x-ms-client-principal` header, which only App Service Authentication makes
 * trustworthy: in front of the app it validates the caller's token, strips a principal header sent from
 * outside and sets its own. Without it anyone can send any principal with any role. So with role checks
 * on (`AUTH_REQUIRE_ROLES`) and the platform's authentication off (App Service sets
 * `WEBSITE_AUTH_ENABLED=True` when it is on), the API refuses to serve rather than trust a forgeable
 * header: every request is a 503, and the app logs why once at start.
 */
import { ProviderSettings, SETTING_NAMES } from "../config/settings";
import type { Logger } from "../logging/logger";
import { ProblemError } from "./problem";

export type RoleCheckSettings = Pick<ProviderSettings, "requireRoles" | "platformAuthEnabled">;

const PLATFORM_AUTH_TITLE = "Role checks are on but App Service Authentication is not enabled";

const PLATFORM_AUTH_DETAIL =
  `${SETTING_NAMES.requireRoles} is true, but App Service Authentication is not enabled in front of this ` +
  `app (the platform did not set ${SETTING_NAMES.platformAuthEnabled}=True), so the caller's principal ` +
  `header cannot be trusted and the API serves nothing. Enable App Service Authentication ` +
  `(authsettingsV2, infra/provider.bicep) or, for a local run, let the dev host emulate it.`;

/** The 503 every API request gets while role checks cannot be trusted, else undefined. */
export function platformAuthProblem(settings: RoleCheckSettings): ProblemError | undefined {
  if (!settings.requireRoles || settings.platformAuthEnabled) return undefined;
  return new ProblemError(503, PLATFORM_AUTH_DETAIL, undefined, {
    title: PLATFORM_AUTH_TITLE,
    settings: [SETTING_NAMES.requireRoles, SETTING_NAMES.platformAuthEnabled],
  });
}

/** Throws the 503 when role checks are on without App Service Authentication (`apiHandler` calls it). */
export function requirePlatformAuth(settings: RoleCheckSettings): void {
  const problem = platformAuthProblem(settings);
  if (problem) throw problem;
}

let reported = false;

/**
 * At app start: one error line when the API will refuse to serve, so the operator sees why before the
 * first 503. Once per process, however often it is called. Returns whether it logged.
 */
export function reportPlatformAuthAtStart(settings: RoleCheckSettings, log: Logger): boolean {
  if (reported || !platformAuthProblem(settings)) return false;
  reported = true;
  log.error(`${PLATFORM_AUTH_TITLE}: every API request will be answered 503`, {
    detail: PLATFORM_AUTH_DETAIL,
    settings: [SETTING_NAMES.requireRoles, SETTING_NAMES.platformAuthEnabled],
  });
  return true;
}
