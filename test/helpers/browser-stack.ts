/**
 * `npm start`'s stack (its own data folder, free ports) with headless Chromium on a page, for the
 * dashboard tests, plus the API called as the page would. The suites skip when there is no Chromium
 * (`browserSkip`), unless REQUIRE_BROWSER is set.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { spawnStack, type StackProcess } from "../../dev/stack-process";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const noBrowser = !fs.existsSync(CHROMIUM) && !process.env.REQUIRE_BROWSER;
/** A test's `skip` option: false, or why the suite cannot run here. */
export const browserSkip: false | string =
  noBrowser && `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

export interface BrowserStack {
  stack: StackProcess;
  browser: Browser;
  page: Page;
  /** An API call that must succeed (status < 300); answers its JSON. */
  api(method: string, route: string, body?: unknown): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startBrowserStack(
  name: string,
  page: { height: number; timeoutMs: number },
): Promise<BrowserStack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  let stack: StackProcess | undefined;
  let browser: Browser | undefined;
  const close = async () => {
    await browser?.close();
    await stack?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    stack = await spawnStack(dataDir);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    const opened = await browser.newPage({ viewport: { width: 1400, height: page.height } });
    opened.setDefaultTimeout(page.timeoutMs);
    const api = stack.api;
    return {
      stack,
      browser,
      page: opened,
      async api(method, route, body) {
        const res = await fetch(`${api}${route}`, {
          method,
          headers: body === undefined ? {} : { "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        assert.ok(res.status < 300, `${method} ${route}: ${res.status} ${await res.clone().text()}`);
        return (await res.json()) as Record<string, unknown>;
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
