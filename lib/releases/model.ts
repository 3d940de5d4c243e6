/**
 * A release: a version (SemVer 2.0, without build metadata) and the spec every customer gets, immutable
 * once created. A deployment or a rollout may name a release instead of a raw spec; at start the
 * release's spec is rendered for the tenant with the tenant's `parameters` (`renderSpec`, the one rule),
 * and the command carries the rendered spec.
 */
import { z } from "zod";
import type { Actor } from "../http/auth";
import {
  deploymentSpec,
  HEALTH_CHECK_KEY,
  healthCheckSchema,
  type HealthCheck,
} from "../messaging/contracts";

/**
 * MAJOR.MINOR.PATCH with an optional pre-release (`-rc.1`); no build metadata (`+...` is a space in a
 * URL path) and no leading zeros, as SemVer 2.0 says. At most 64 characters.
 */
const NUMERIC = "(?:0|[1-9]\\d*)";
const PRE_ID = "(?:0|[1-9]\\d*|\\d*[A-Za-z-][0-9A-Za-z-]*)";
export const VERSION_PATTERN = new RegExp(
  `^${NUMERIC}\\.${NUMERIC}\\.${NUMERIC}(?:-${PRE_ID}(?:\\.${PRE_ID})*)?$`,
);

export const releaseVersion = z
  .string()
  .max(64, "must be at most 64 characters")
  .regex(VERSION_PATTERN, "must be a semantic version (MAJOR.MINOR.PATCH, optionally -pre.release)");

/**
 * A release's spec: a deployment spec whose `parameters`, when present, is an object tenants add to, and
 * without the health check member (the release's `healthCheck` is what puts one there).
 */
const releaseSpec = deploymentSpec
  .refine(
    (spec) =>
      spec.parameters === undefined ||
      (typeof spec.parameters === "object" && spec.parameters !== null && !Array.isArray(spec.parameters)),
    {
      message: "parameters must be an object (tenants' parameters are merged into it)",
      path: ["parameters"],
    },
  )
  .refine((spec) => spec[HEALTH_CHECK_KEY] === undefined, {
    message: "is reserved for the release's health check: give it as the release's healthCheck",
    path: [HEALTH_CHECK_KEY],
  });

/** Health check defaults: probe every 30 s for 5 minutes. */
export const HEALTH_CHECK_DEFAULTS = { windowSeconds: 300, intervalSeconds: 30 } as const;

/** A release's health check as requested: the wire form (contracts' healthCheckSchema) with defaults. */
const releaseHealthCheck = z
  .strictObject({
    /** What GET answers carries: accepted, so a release read back posts again as the same one. */
    version: z.literal(1).optional(),
    probe: z.record(z.string(), z.unknown()).optional(),
    windowSeconds: z.number().optional(),
    intervalSeconds: z.number().optional(),
  })
  .transform((h, ctx): HealthCheck => {
    const parsed = healthCheckSchema.safeParse({
      version: 1,
      probe: h.probe ?? {},
      windowSeconds: h.windowSeconds ?? HEALTH_CHECK_DEFAULTS.windowSeconds,
      intervalSeconds: h.intervalSeconds ?? HEALTH_CHECK_DEFAULTS.intervalSeconds,
    });
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: "custom" });
    return z.NEVER;
  });

export const releaseRequestSchema = z
  .strictObject({
    version: releaseVersion,
    spec: releaseSpec,
    description: z.string().max(1000, "must be at most 1000 characters").optional(),
    /** Probed by each tenant's agent after its deployment succeeds; a rollout of the release is health-gated. */
    healthCheck: releaseHealthCheck.optional(),
  })
  .superRefine((body, ctx) => {
    // What is sent is the spec with the check in it: over the limit, every tenant would be refused later.
    if (body.healthCheck && !deploymentSpec.safeParse(releaseSpecOf(body)).success)
      ctx.addIssue({
        code: "custom",
        path: ["healthCheck"],
        message: "makes the spec sent to tenants larger than its limit (32 KB as JSON)",
      });
  });
export type ReleaseRequest = z.infer<typeof releaseRequestSchema>;

export interface Release {
  version: string;
  spec: Record<string, unknown>;
  description?: string;
  /** Absent when the release has none, and on releases created before 0.5.0. */
  healthCheck?: HealthCheck;
  createdAt: string;
  createdBy: Actor;
}

/**
 * The spec a tenant gets from a release: the release's spec with `parameters` = the release's
 * `parameters` overlaid key by key with the tenant's (the tenant's value wins; one level, no deep merge).
 * A tenant without parameters gets the release's spec unchanged. A parameter that is a secret is only
 * ever the name of a setting (`{ "setting": "NAME" }`), which the customer's agent resolves in its own
 * tenant: no secret value crosses from the Provider.
 */
export function renderSpec(
  spec: Record<string, unknown>,
  parameters: Record<string, unknown> | undefined,
): Record<string, unknown> {
  if (!parameters || Object.keys(parameters).length === 0) return spec;
  const base = (spec.parameters ?? {}) as Record<string, unknown>;
  return { ...spec, parameters: { ...base, ...parameters } };
}

/**
 * What a deployment of the release sends before the tenant's parameters: its spec, with its health check
 * (if any) as the spec's HEALTH_CHECK_KEY member, which asks the agent to probe after it succeeds.
 */
export function releaseSpecOf(release: Pick<Release, "spec" | "healthCheck">): Record<string, unknown> {
  return release.healthCheck ? { ...release.spec, [HEALTH_CHECK_KEY]: release.healthCheck } : release.spec;
}

/** SemVer 2.0 precedence: negative when `a` comes before `b` (a pre-release before its release). */
export function compareVersions(a: string, b: string): number {
  const [coreA = "", preA] = splitVersion(a);
  const [coreB = "", preB] = splitVersion(b);
  const numsA = coreA.split(".").map(Number);
  const numsB = coreB.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (numsA[i] ?? 0) - (numsB[i] ?? 0);
    if (d !== 0) return d;
  }
  if (preA === undefined || preB === undefined) return preA === preB ? 0 : preA === undefined ? 1 : -1;
  const idsA = preA.split(".");
  const idsB = preB.split(".");
  for (let i = 0; i < Math.max(idsA.length, idsB.length); i++) {
    const x = idsA[i];
    const y = idsB[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    } else if (nx !== ny) return nx ? -1 : 1;
    else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function splitVersion(version: string): [string, string | undefined] {
  const dash = version.indexOf("-");
  return dash < 0 ? [version, undefined] : [version.slice(0, dash), version.slice(dash + 1)];
}
