import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { browserSkip, startBrowserStack, type BrowserStack } from "../helpers/browser-stack";

// The dashboard in headless Chromium against `npm start`'s stack: live tenants and deployments, the
// timeline, the cancel / retry / verify actions, and API data rendered as text, never as markup.
const SCREENSHOT = path.join(__dirname, "..", "..", "..", "test-results", "dashboard.png");

let s: BrowserStack | undefined;
let page: Page;
const api = (method: string, route: string, body?: unknown) => s!.api(method, route, body);

const row = (id: string) => page.locator(`tr[data-id="${id}"]`);
/** The selected deployment's timeline shows both the agent's Succeeded report and the recorded outcome. */
async function timelineShowsSuccess(): Promise<void> {
  for (const source of ["provider", "agent"])
    await page
      .getByTestId("timeline-entry")
      .filter({ hasText: new RegExp(`${source}\\s*Succeeded`) })
      .waitFor();
}

before(async () => {
  if (browserSkip) return;
  s = await startBrowserStack("dashboard", { height: 1000, timeoutMs: 20_000 });
  page = s.page;
});

after(async () => {
  await s?.close();
});

test(
  "the dashboard shows tenants and live deployments, runs cancel / retry / verify, and renders data as text",
  { skip: browserSkip },
  async () => {
    const hostile = `<img src=x onerror="document.title='pwned'">`;
    await api("PUT", "/tenants/markup-probe", {
      directoryId: "a0000000-0000-4000-8000-0000000000ff",
      displayName: hostile,
      serviceBus: { namespace: "markup-probe.servicebus.windows.net" },
      labels: { ring: "canary", region: "eu" },
      // A daily window twelve hours from now: closed for the whole test.
      maintenanceWindows: [
        {
          cron: `${new Date(Date.now() + 12 * 3600_000).getUTCMinutes()} ${new Date(Date.now() + 12 * 3600_000).getUTCHours()} * * *`,
          durationMinutes: 60,
          timeZone: "UTC",
        },
      ],
    });
    const response = await page.goto(`${s!.stack.api}/dashboard`);
    assert.equal(response?.status(), 200);
    assert.match(response?.headers()["content-security-policy"] ?? "", /script-src 'nonce-[^']+'/);
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));

    // Tenants, with their auth mode and pump state.
    await page.locator('[data-tenant="fabrikam"]').waitFor();
    assert.match(await page.locator('[data-tenant="fabrikam"]').innerText(), /federatedManagedIdentity/);
    assert.match(await page.locator('[data-tenant="contoso"]').innerText(), /\bsas\b/);
    assert.match(await page.getByTestId("pump-markup-probe").innerText(), /NotStarted/);
    assert.ok((await page.locator('[data-tenant="markup-probe"]').innerText()).includes(hostile));
    assert.equal(await page.locator("#tenants img").count(), 0, "a display name is text, not markup");
    assert.match(await page.getByTestId("labels-markup-probe").innerText(), /ring=canary\s*region=eu/);
    assert.match(await page.getByTestId("labels-markup-probe").innerText(), /1 maintenance window/);

    // A deployment started from the form runs live to its outcome, and its timeline shows the agent's reports.
    await page.getByTestId("start-tenant").selectOption("fabrikam");
    await page.locator('input[name="steps"]').fill("3");
    await page.locator('input[name="stepMs"]').fill("300");
    await page.getByTestId("start-submit").click();
    const started = page.locator("tr[data-id]").first();
    const id = (await started.getAttribute("data-id")) as string;
    await row(id).getByTestId("outcome").filter({ hasText: "Succeeded" }).waitFor();
    await timelineShowsSuccess();
    const timeline = await page.getByTestId("timeline").innerText();
    for (const event of ["Requested", "Sent", "Accepted", "InProgress", "Succeeded"])
      assert.match(timeline, new RegExp(event), event);
    assert.match(timeline, /agent/);

    // Cancel a stalled deployment from its row, then retry it as attempt 2.
    const stalled = (await api("POST", "/tenants/contoso/deployments", {
      spec: { demo: { outcome: "stall" } },
    })) as { id: string };
    await row(stalled.id)
      .getByTestId("phase")
      .filter({ hasText: /Accepted|InProgress/ })
      .waitFor();
    await page.getByTestId(`cancel-${stalled.id}`).click();
    await row(stalled.id)
      .getByTestId("outcome")
      .filter({ hasText: "Cancelled" })
      .waitFor({ timeout: 45_000 });
    await page.getByTestId(`retry-${stalled.id}`).click();
    await row(stalled.id).locator("td").nth(2).filter({ hasText: "2" }).waitFor();
    await page.getByTestId(`cancel-${stalled.id}`).waitFor();

    // A deployment to a tenant whose window is closed shows WaitingForWindow and when the window opens;
    // it is cancelled before anything goes to the (absent) agent.
    const waiting = (await api("POST", "/tenants/markup-probe/deployments", {
      spec: { template: "web" },
      completionTimeoutSeconds: 86_400,
    })) as { id: string };
    await row(waiting.id).getByTestId("phase").filter({ hasText: "WaitingForWindow" }).waitFor();
    assert.match(await row(waiting.id).getByTestId("window-opens").innerText(), /window opens \S/);
    await page.getByTestId(`cancel-${waiting.id}`).click();
    await row(waiting.id).getByTestId("outcome").filter({ hasText: "Cancelled" }).waitFor();

    // Verify from the tenant row records the result the row then shows.
    await page.getByTestId("verify-contoso").click();
    await page
      .getByTestId("last-verify-contoso")
      .filter({ hasText: /ok, \d+ ms/ })
      .waitFor();

    assert.notEqual(await page.title(), "pwned");
    assert.deepEqual(errors, []);
    assert.equal(
      await page.getByTestId("error").isVisible(),
      false,
      await page.getByTestId("error").innerText(),
    );
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await row(id).click();
    await timelineShowsSuccess();
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`dashboard screenshot: ${SCREENSHOT}`);
  },
);

test(
  "the dashboard never takes a key from its URL: a ?code= is dropped from the address and never sent; the key field's is",
  { skip: browserSkip },
  async () => {
    const sent: (string | undefined)[] = [];
    const onRequest = (r: { url(): string; headers(): Record<string, string> }) => {
      if (r.url().includes("/api/") && !r.url().includes("/dashboard"))
        sent.push(r.headers()["x-functions-key"]);
    };
    page.on("request", onRequest);
    try {
      await page.goto(`${s!.stack.api}/dashboard?code=url-secret&x=1`);
      await page.locator('[data-tenant="contoso"]').waitFor();
      assert.doesNotMatch(
        page.url(),
        /code=|url-secret/,
        "the key is gone from the address (and so from history)",
      );
      assert.match(page.url(), /x=1/);
      assert.ok(sent.length > 0);
      assert.ok(
        sent.every((k) => k === undefined),
        "no key from the URL went to the API",
      );
      // Typed into the key field: kept for this tab, sent as x-functions-key.
      await page.getByTestId("api-key").fill("typed-key");
      await page.getByTestId("api-key").dispatchEvent("change");
      sent.length = 0;
      await page.waitForRequest((r) => r.url().includes("/api/tenants"));
      await page.waitForTimeout(50);
      assert.ok(
        sent.some((k) => k === "typed-key"),
        JSON.stringify(sent),
      );
      assert.equal(await page.evaluate("sessionStorage.getItem('orchestrator.apiKey')"), "typed-key");
    } finally {
      page.off("request", onRequest);
      await page.evaluate("sessionStorage.clear()");
    }
  },
);
