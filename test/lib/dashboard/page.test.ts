import { test } from "node:test";
import assert from "node:assert/strict";
import { dashboardResponse } from "../../../lib/dashboard/page";

test("the dashboard page gets a fresh CSP nonce per response and allows no inline script or style without it", () => {
  const a = dashboardResponse();
  const b = dashboardResponse();
  const headers = a.headers as Record<string, string>;
  const csp = headers["content-security-policy"] as string;
  const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
  assert.ok(nonce);
  assert.notEqual(csp, (b.headers as Record<string, string>)["content-security-policy"]);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(headers["x-content-type-options"], "nosniff");
  assert.match(headers["content-type"] as string, /^text\/html/);
  const body = a.body as string;
  assert.doesNotMatch(body, /__CSP_NONCE__/);
  // The style and the three scripts (the page's and the inlined rollouts and fleet views) carry the nonce;
  // nothing else runs.
  const tags = body.match(/<(script|style)\b[^>]*>/g) ?? [];
  assert.equal(tags.length, 4);
  for (const tag of tags) assert.ok(tag.includes(`nonce="${nonce}"`), tag);
  assert.doesNotMatch(body, /data-inline=/, "every included file is inlined");
  assert.match(body, /function refreshRollouts/);
  assert.match(body, /fleet/i, "the fleet views are inlined");
  // Inline handlers and innerHTML would bypass the nonce or render API data as markup.
  assert.doesNotMatch(body, /\son[a-z]+="/);
  assert.doesNotMatch(body, /innerHTML|insertAdjacentHTML|document\.write/);
});
