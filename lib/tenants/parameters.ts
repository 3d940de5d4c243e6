/**
 * A tenant's deployment parameters (`{ "region": "westeurope", "replicas": 3, "dbPassword": { "setting":
 * "DB_PASSWORD" } }`): merged into a release's `spec.parameters` when the tenant gets that release
 * (lib/releases/model.ts, `renderSpec`). A value is a string, a number, a boolean, or the *name* of a
 * setting that the customer's agent resolves in its own tenant, never a secret value: the registry's
 * secret rule (`findSecrets`, ./model.ts) refuses secret-looking names and values here as everywhere.
 */
import { z } from "zod";

const PARAMETER_LIMITS = { count: 64, valueChars: 1024, bytes: 8 * 1024 } as const;
const KEY = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const parameterValue = z.union(
  [
    z.string().max(PARAMETER_LIMITS.valueChars, `must be at most ${PARAMETER_LIMITS.valueChars} characters`),
    z.number().finite(),
    z.boolean(),
    z.strictObject({
      setting: z.string().regex(SETTING_NAME, "must be the name of a setting in the customer's agent"),
    }),
  ],
  { error: 'must be a string, a number, a boolean or { "setting": "<name>" }' },
);

export type Parameters = Record<string, string | number | boolean | { setting: string }>;

export const parametersSchema = z.record(z.string(), parameterValue).superRefine((parameters, ctx) => {
  const keys = Object.keys(parameters);
  if (keys.length > PARAMETER_LIMITS.count)
    ctx.addIssue({
      code: "custom",
      path: [],
      message: `must have at most ${PARAMETER_LIMITS.count} parameters`,
    });
  for (const key of keys)
    if (!KEY.test(key))
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: "must be a parameter name: a letter, then up to 63 letters, digits, '_', '.' or '-'",
      });
  if (Buffer.byteLength(JSON.stringify(parameters)) > PARAMETER_LIMITS.bytes)
    ctx.addIssue({
      code: "custom",
      path: [],
      message: `must be at most ${PARAMETER_LIMITS.bytes} bytes as JSON`,
    });
});
