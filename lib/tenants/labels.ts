/**
 * Tenant labels (`{ ring: "canary", region: "eu" }`) in Kubernetes label syntax, so selectors and
 * habits carry over from the tools users already run: a key is an optional DNS-subdomain prefix and
 * `/`, then a name; a value is a name or empty.
 */
import { z } from "zod";

export const MAX_LABELS = 64;
const NAME = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

export type Labels = Record<string, string>;

export function isLabelKey(key: string): boolean {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && NAME.test(name);
}

export function isLabelValue(value: string): boolean {
  return value === "" || (value.length <= 63 && NAME.test(value));
}

const LABEL_KEY_RULE =
  "must be a label key: an optional DNS subdomain prefix (at most 253 characters) and '/', then a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
const LABEL_VALUE_RULE =
  "must be empty or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";

export const labelsSchema = z
  .record(z.string(), z.string({ error: "must be a string" }))
  .superRefine((labels, ctx) => {
    const keys = Object.keys(labels);
    if (keys.length > MAX_LABELS)
      ctx.addIssue({ code: "custom", path: [], message: `must have at most ${MAX_LABELS} labels` });
    for (const key of keys) {
      if (!isLabelKey(key)) ctx.addIssue({ code: "custom", path: [key], message: LABEL_KEY_RULE });
      else if (!isLabelValue(labels[key]))
        ctx.addIssue({ code: "custom", path: [key], message: LABEL_VALUE_RULE });
    }
  });
