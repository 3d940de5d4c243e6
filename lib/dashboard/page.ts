/**
 * The operator dashboard: one static page (`dashboard/index.html`, no build step) that reads and acts
 * through the public API, so it has exactly the caller's rights. Each response gets a fresh CSP nonce:
 * only the page's own script and style run, and the page renders API data as text, never as HTML.
 * The page's style and its larger views live in files of their own beside it (`dashboard/*.css|js`) and
 * are inlined where the page names them (`<script nonce=... data-inline="rollouts.js">`): one response,
 * one nonce, no extra route, and no source file grows past the size rule.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { HttpResponseInit } from "@azure/functions";

/** Compiled to dist/lib/dashboard; the page ships beside dist/ at the package root. */
const PAGE_DIR = path.join(__dirname, "..", "..", "..", "dashboard");
const NONCE_PLACEHOLDER = /__CSP_NONCE__/g;
/** `<script|style nonce="__CSP_NONCE__" data-inline="file"></script|style>`: a file of the page's own folder. */
const INLINE = /<(script|style) nonce="__CSP_NONCE__" data-inline="([a-z][a-z0-9-]*\.(?:js|css))"><\/\1>/g;

let template: string | undefined;

function contentSecurityPolicy(nonce: string): string {
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
  template ??= fs
    .readFileSync(path.join(PAGE_DIR, "index.html"), "utf8")
    .replace(
      INLINE,
      (_, tag: string, file: string) =>
        `<${tag} nonce="__CSP_NONCE__">\n${fs.readFileSync(path.join(PAGE_DIR, file), "utf8")}</${tag}>`,
    );
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
