/**
 * The releases API: `POST /api/releases` (create; a repeat of the same release answers 200 with it, the
 * same version with another spec a 409), `GET /api/releases` (newest version first) and
 * `GET /api/releases/{version}`. Creating needs `Deployments.Write`, reading `Deployments.Read` or
 * `Deployments.Write` (when role checks are on). Registered by `triggers/releases.ts`.
 */
import type { HttpRequest } from "@azure/functions";
import type { ProviderSettings } from "../config/settings";
import { actorOf, actorView, requireRole, ROLES } from "../http/auth";
import { apiHandler, json } from "../http/handler";
import { ProblemError, validationProblem } from "../http/problem";
import { parseWith, readJson } from "../http/request";
import { invocationLogger } from "../logging/logger";
import { type Release, releaseRequestSchema, releaseVersion } from "./model";
import { ReleaseConflictError, type ReleaseStore } from "./store";

export interface ReleaseApiDeps {
  settings: Pick<ProviderSettings, "requireRoles">;
  releases: ReleaseStore;
}

const READ = [ROLES.deploymentsRead, ROLES.deploymentsWrite];
const WRITE = [ROLES.deploymentsWrite];

/** A release as the API answers it. */
export function releaseView(r: Release, options: { spec?: boolean } = {}) {
  return {
    version: r.version,
    ...(r.description !== undefined ? { description: r.description } : {}),
    createdAt: r.createdAt,
    createdBy: actorView(r.createdBy),
    ...(r.healthCheck !== undefined ? { healthCheck: r.healthCheck } : {}),
    ...(options.spec === false ? {} : { spec: r.spec }),
  };
}

function versionParam(request: HttpRequest): string {
  const version = request.params.version ?? "";
  if (!releaseVersion.safeParse(version).success)
    throw validationProblem([
      { field: "version", message: "must be a semantic version (MAJOR.MINOR.PATCH)" },
    ]);
  return version;
}

/** The named release, or a 404. */
export async function requireRelease(releases: ReleaseStore, version: string): Promise<Release> {
  const release = await releases.get(version);
  if (!release) throw new ProblemError(404, `Release ${version} was not found.`);
  return release;
}

export function createReleaseHandlers(getDeps: () => ReleaseApiDeps) {
  return {
    create: apiHandler(async (request, context) => {
      const { settings, releases } = getDeps();
      requireRole(request, settings.requireRoles, WRITE);
      const body = parseWith(releaseRequestSchema, await readJson(request));
      try {
        const { release, created } = await releases.create({
          version: body.version,
          spec: body.spec,
          ...(body.description !== undefined ? { description: body.description } : {}),
          ...(body.healthCheck !== undefined ? { healthCheck: body.healthCheck } : {}),
          createdAt: new Date().toISOString(),
          createdBy: actorOf(request),
        });
        if (created) invocationLogger(context).info("release created", { release: release.version });
        const location = new URL(`/api/releases/${encodeURIComponent(release.version)}`, request.url).href;
        return json(created ? 201 : 200, releaseView(release), { location });
      } catch (error) {
        if (error instanceof ReleaseConflictError)
          throw new ProblemError(409, error.message, [
            { field: "version", message: "already exists with another spec, description or health check" },
          ]);
        throw error;
      }
    }),

    list: apiHandler(async (request) => {
      const { settings, releases } = getDeps();
      requireRole(request, settings.requireRoles, READ);
      const items = await releases.list();
      return json(200, { items: items.map((r) => releaseView(r, { spec: false })) });
    }),

    get: apiHandler(async (request) => {
      const { settings, releases } = getDeps();
      requireRole(request, settings.requireRoles, READ);
      return json(200, releaseView(await requireRelease(releases, versionParam(request))));
    }),
  };
}
