import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { browserSkip, startBrowserStack, type BrowserStack } from "../helpers/browser-stack";
import { assertRolloutTruth } from "../helpers/one-truth";

// The dashboard's Rollouts view in headless Chromium against `npm start`'s stack: a rollout with an
// approval gate is approved from the page and runs to Succeeded; a long one is paused, resumed and
// aborted from the page. Every wait is for a condition the page shows, so a loaded machine only slows it.
const SCREENSHOT = path.join(__dirname, "..", "..", "..", "test-results", "dashboard-rollouts.png");
const skip = browserSkip;

let s: BrowserStack | undefined;
let page: Page;
/** The stack's registered tenants (two today; the rollout works with however many there are). */
let tenants: string[] = [];
const pageErrors: string[] = [];

const api = (method: string, route: string, body?: unknown) => s!.api(method, route, body);

const state = () => page.getByTestId("rollout-state");
const wave = (name: string) => page.locator(`#rollout tr[data-wave="${name}"]`);
const tenantRow = (name: string) => page.locator(`#rollout tr[data-rollout-tenant="${name}"]`);
const button = (action: string) => page.getByTestId(`rollout-${action}`);

async function openRollout(id: string): Promise<void> {
  await page
    .locator(`tr[data-rollout="${id}"]`)
    .getByRole("button", { name: `Show rollout ${id}` })
    .click();
  await page.locator("#rollout-id").filter({ hasText: id }).waitFor();
}

async function controls(): Promise<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  for (const action of ["approve", "pause", "resume", "abort"])
    out[action] = await button(action).isEnabled();
  return out;
}

before(async () => {
  if (skip) return;
  s = await startBrowserStack("dashboard-rollouts", { height: 1200, timeoutMs: 30_000 });
  page = s.page;
  tenants = ((await api("GET", "/tenants")).items as { name: string }[]).map((t) => t.name).sort();
  assert.ok(tenants.length >= 2, `the stack registers at least two tenants: ${tenants.join(", ")}`);
  page.on("pageerror", (e) => pageErrors.push(e.message));
  const response = await page.goto(`${s.stack.api}/dashboard`);
  assert.equal(response?.status(), 200);
});

after(async () => {
  await s?.close();
});

test(
  "the Rollouts view shows an approval gate's waves, approves from the page and follows the rollout to Succeeded",
  { skip },
  async () => {
    const [first, ...rest] = tenants;
    const { id } = (await api("POST", "/rollouts", {
      spec: { demo: { steps: 2, stepMs: 100 } },
      targets: { tenants },
      waves: [{ name: "first", tenants: [first] }, { name: "rest" }],
      approval: "afterEachWave",
      maxConcurrency: 2,
    })) as { id: string };
    await openRollout(id);

    await state().filter({ hasText: "WaitingForApproval" }).waitFor({ timeout: 60_000 });
    await wave("first").getByTestId("wave-succeeded").filter({ hasText: /^1$/ }).waitFor();
    assert.equal(await wave("first").getByTestId("wave-state").innerText(), "WaitingForApproval");
    assert.equal(await wave("rest").getByTestId("wave-pending").innerText(), String(rest.length));
    assert.equal(await wave("rest").getByTestId("wave-total").innerText(), String(rest.length));
    assert.match((await wave("first").getByRole("img").getAttribute("aria-label")) ?? "", /1 succeeded of 1/);
    assert.deepEqual(await controls(), { approve: true, pause: true, resume: false, abort: true });
    assert.equal(await button("approve").getAttribute("aria-label"), `Approve rollout ${id}`);

    // A control the server refuses (as a stale page could send it) shows the API's problem beside the controls.
    await button("resume").evaluate((b) => {
      const stale = b as unknown as { disabled: boolean; click(): void };
      stale.disabled = false;
      stale.click();
    });
    await page
      .getByTestId("rollout-problem")
      .filter({ hasText: /resume .*409 .*not paused/ })
      .waitFor();

    await button("approve").click();
    await state().filter({ hasText: "Succeeded" }).waitFor({ timeout: 90_000 });
    assert.equal(
      await page.getByTestId("rollout-problem").isVisible(),
      false,
      "a successful control clears it",
    );
    for (const tenant of tenants)
      await tenantRow(tenant)
        .getByTestId("rollout-tenant-outcome")
        .filter({ hasText: "Succeeded" })
        .waitFor();
    assert.equal(await wave("rest").getByTestId("wave-succeeded").innerText(), String(rest.length));
    assert.deepEqual(await controls(), { approve: false, pause: false, resume: false, abort: false });
    assert.match(await page.getByTestId("rollout-errors").innerText(), /errors 0 of max 0/);
    await page
      .locator(`tr[data-rollout="${id}"]`)
      .getByTestId("rollout-row-state")
      .filter({ hasText: "Succeeded" })
      .waitFor();

    // A tenant's deployment link shows that deployment's timeline in the Deployments view.
    const link = tenantRow(first).getByRole("link");
    const deploymentId = await link.innerText();
    await link.click();
    await page.locator("#detail-id").filter({ hasText: deploymentId }).waitFor();
    await page
      .getByTestId("timeline-entry")
      .filter({ hasText: /provider\s*Succeeded/ })
      .waitFor();

    const final = await assertRolloutTruth(new URL(s!.stack.api).origin, id);
    assert.equal(final.state, "Succeeded");
  },
);

test(
  "pause, resume and abort from the page: the long rollout ends Aborted, its deployment cancelled, the rest skipped",
  { skip },
  async () => {
    const { id } = (await api("POST", "/rollouts", {
      spec: { demo: { steps: 200, stepMs: 300 } },
      targets: { tenants },
      maxConcurrency: 1,
    })) as { id: string };
    await openRollout(id);
    await page
      .getByTestId("rollout-tenant-phase")
      .filter({ hasText: "Running" })
      .first()
      .waitFor({ timeout: 60_000 });
    await state().filter({ hasText: "Running" }).waitFor();
    assert.deepEqual(await controls(), { approve: false, pause: true, resume: false, abort: true });

    await button("pause").click();
    await state().filter({ hasText: "Paused" }).waitFor();
    await button("resume").click();
    await state().filter({ hasText: "Running" }).waitFor();
    await button("abort").click();
    await state().filter({ hasText: "Aborted" }).waitFor({ timeout: 90_000 });

    const outcomes = await page.getByTestId("rollout-tenant-outcome").allInnerTexts();
    const phases = await page.getByTestId("rollout-tenant-phase").allInnerTexts();
    assert.deepEqual(outcomes.filter(Boolean), ["Cancelled"], "the one in flight is cancelled gracefully");
    assert.equal(phases.filter((p) => p === "Skipped").length, tenants.length - 1);
    assert.deepEqual(await controls(), { approve: false, pause: false, resume: false, abort: false });
    const final = await assertRolloutTruth(new URL(s!.stack.api).origin, id);
    assert.equal(final.state, "Aborted");

    assert.deepEqual(pageErrors, []);
    assert.equal(
      await page.getByTestId("error").isVisible(),
      false,
      await page.getByTestId("error").innerText(),
    );
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`dashboard rollouts screenshot: ${SCREENSHOT}`);
  },
);
