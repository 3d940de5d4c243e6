import { test } from "node:test";
import assert from "node:assert/strict";
import {
  checkSent,
  PARAMETERS_EXPECTED,
  RELEASE_PARAMETERS,
  SECRET_VALUE,
  TENANT_PARAMETERS,
  type Sent,
} from "../../dev/demo-features";
import { specDigest } from "../../dev/product";

const VERSION = "1.1.0-demo.1";
const sentTo = (tenant: string, parameters: Record<string, unknown>, digest?: string): Sent => {
  const spec = { parameters, demo: { steps: 1 } };
  return { tenant, spec, record: { release: VERSION, specDigest: digest ?? specDigest(spec) } };
};
const rendered = (i: number) => ({ ...RELEASE_PARAMETERS, ...TENANT_PARAMETERS[i] });

test("the demo's tenant-parameters check passes only when each tenant was sent its own rendering", () => {
  const lines: string[] = [];
  const log = (line: string) => void lines.push(line);
  const good = [sentTo("contoso", rendered(0)), sentTo("fabrikam", rendered(1))];
  assert.equal(checkSent({ log }, good, VERSION, JSON.stringify(good)), PARAMETERS_EXPECTED);
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /contoso was sent release 1\.1\.0-demo\.1, sha256:\w+, parameters \{.*"setting"/);

  const quiet = { log: () => {} };
  // The release's values alone (the tenant's not overlaid), or a deep merge's leftovers, are wrong.
  const unrendered = [sentTo("contoso", RELEASE_PARAMETERS), good[1]!];
  assert.match(checkSent(quiet, unrendered, VERSION, ""), /contoso was sent/);
  // A record whose digest is not that of what was sent, or another release.
  const badDigest = [sentTo("contoso", rendered(0), "sha256:00"), good[1]!];
  assert.match(checkSent(quiet, badDigest, VERSION, ""), /digest is not the digest of what was sent/);
  assert.match(checkSent(quiet, good, "9.9.9", ""), /names release 1\.1\.0-demo\.1/);
  // A secret value anywhere in what was shown.
  const leaked = JSON.stringify({ ...good, leaked: SECRET_VALUE });
  assert.equal(checkSent(quiet, good, VERSION, leaked), "the refused secret value shows up");
});
