/**
 * The operator dashboard: one static page (`dashboard/index.html`, no build step) that reads and acts
 * through the public API, so it has exactly the caller's rights. Each response gets a fresh CSP nonce:
 * only the page's own script and style run, and the page renders API data as text, never as HTML.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { HttpResponseInit } from "@azure/functions";

/** Compiled to dist/lib/dashboard; the page ships beside dist/ at the package root. */
const PAGE_PATH = path.join(__dirname, "..", "..", "..", "dashboard", "index.html");
const NONCE_PLACEHOLDER = /__CSP_NONCE__/g;

let template: string | undefined;

export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

export function dashboardResponse(): HttpResponseInit {
  template ??= fs.readFileSync(PAGE_PATH, "utf8");
  const nonce = randomBytes(16).toString("base64");
  return {
    status: 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": contentSecurityPolicy(nonce),
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store",
    },
    body: template.replace(NONCE_PLACEHOLDER, nonce),
  };
}
