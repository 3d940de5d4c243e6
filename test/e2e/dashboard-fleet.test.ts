import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Page } from "playwright-core";
import { browserSkip, startBrowserStack, type BrowserStack } from "../helpers/browser-stack";

// The dashboard's fleet views in headless Chromium against `npm start`'s stack: a rollout of a release
// started from the New rollout form (and a 400 shown beside the field it names), the version matrix
// following the inventory, and a subscription's delivery log. Every wait is for what the page shows.
const SCREENSHOT = path.join(__dirname, "..", "..", "..", "test-results", "dashboard-fleet.png");
const skip = browserSkip;
const SECRET_SETTING = "WEBHOOK_SECRET_DASHBOARD_FLEET_TEST";
const VERSION = "1.0.0";

let s: BrowserStack | undefined;
let page: Page;
let receiver: http.Server | undefined;
const received: { type: string; id: string }[] = [];
const pageErrors: string[] = [];

const api = (method: string, route: string, body?: unknown) => s!.api(method, route, body);
const field = (name: string) => page.getByTestId(`new-rollout-${name}`);
const problemFor = (name: string) => page.locator(`#new-rollout [data-error-for="${name}"]`);

/** The test's own webhook receiver on loopback: answers 204 and keeps each event's type and id. */
async function startReceiver(): Promise<string> {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const event = JSON.parse(body) as { type: string; id: string };
      received.push({ type: event.type, id: event.id });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
}

before(async () => {
  if (skip) return;
  const url = await startReceiver();
  // The Provider process inherits the test's environment (dev/stack-process.ts): the secret's setting.
  process.env[SECRET_SETTING] = "dashboard-fleet-test-secret";
  s = await startBrowserStack("dashboard-fleet", { height: 1600, timeoutMs: 30_000 });
  page = s.page;
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await api("POST", "/releases", { version: VERSION, spec: { demo: { steps: 2, stepMs: 100 } } });
  await api("POST", "/subscriptions", {
    url,
    events: ["deployment.finished", "rollout.finished", "rollout.halted", "rollout.waitingForApproval"],
    secretSetting: SECRET_SETTING,
  });
  const response = await page.goto(`${s.stack.api}/dashboard`);
  assert.equal(response?.status(), 200);
});

after(async () => {
  await s?.close();
  receiver?.close();
});

test(
  "the New rollout form shows a 400 beside the field it names, then starts a release's rollout",
  { skip },
  async () => {
    await field("release").locator(`option[value="${VERSION}"]`).waitFor({ state: "attached" });
    await field("release").selectOption(VERSION);
    await field("selector").fill("ring in (");
    await field("maxConcurrency").fill("2");
    await field("submit").click();
    await problemFor("targets")
      .filter({ hasText: /targets\.selector/ })
      .waitFor();
    assert.equal(await problemFor("maxConcurrency").isVisible(), false);

    await field("selector").fill("ring in (canary,early)");
    await field("waves").fill("canary: ring=canary\nrest:");
    await field("submit").click();
    const started = await field("started")
      .filter({ hasText: /started / })
      .innerText();
    const id = started.replace(/^started /, "");
    assert.equal(await problemFor("targets").isVisible(), false, "a success clears the field's problem");
    await page.locator(`tr[data-rollout="${id}"]`).waitFor();
    await page.locator("#rollout-id").filter({ hasText: id }).waitFor();
    await page.getByTestId("rollout-state").filter({ hasText: "Succeeded" }).waitFor({ timeout: 120_000 });
    const rollout = (await api("GET", `/rollouts/${id}`)) as { release?: string; waves: { name: string }[] };
    assert.deepEqual(
      rollout.waves.map((w) => w.name),
      ["canary", "rest"],
    );
  },
);

test("the version matrix shows the inventory's counts by ring and release, and drift", { skip }, async () => {
  const inventory = (await api("GET", "/inventory")) as {
    counts: { byLabel: Record<string, Record<string, Record<string, number>>> };
  };
  const rings = inventory.counts.byLabel.ring;
  assert.ok(rings.canary[VERSION] >= 1, JSON.stringify(rings));
  for (const [ring, counts] of Object.entries(rings))
    for (const [version, n] of Object.entries(counts))
      await page
        .locator(`#matrix tr[data-label-value="${ring}"] td[data-version="${version}"]`)
        .filter({ hasText: new RegExp(`^${n}$`) })
        .waitFor();
  await page.getByTestId("drift-version").selectOption(VERSION);
  const behind = (await api("GET", `/inventory?behind=${VERSION}`)) as { items: { tenant: string }[] };
  const drift = await page
    .getByTestId("drift")
    .filter({ hasText: new RegExp(`^${behind.items.length} behind ${VERSION}`) })
    .innerText();
  for (const t of behind.items) assert.match(drift, new RegExp(t.tenant));
  assert.ok(!/contoso/.test(drift), "contoso runs the release");
});

test(
  "On halt: roll back needs a release (a 400 beside the select); a halted rollout shows each tenant's rollback",
  { skip },
  async () => {
    const selector = "ring in (canary,early)";
    const listed = (await api("GET", `/tenants?selector=${encodeURIComponent(selector)}`)) as {
      items: { name: string }[];
    };
    const names = listed.items.map((t) => t.name).sort();
    // One at a time in name order: every tenant but the last gets 2.0.0, the last fails it (budget 0).
    const failing = names.at(-1)!;
    const spec = { demo: { steps: 1, stepMs: 100, failTenants: [failing] } };
    await api("POST", "/releases", { version: "2.0.0", spec });
    await field("release").selectOption("");
    await field("spec").fill('{"demo":{"steps":1}}');
    await field("onHalt").selectOption("rollback");
    await field("submit").click();
    await problemFor("onHalt")
      .filter({ hasText: /needs the rollout to name a release/ })
      .waitFor();

    const before = await field("started").innerText();
    await field("spec").fill("");
    await field("release").selectOption("2.0.0");
    await field("selector").fill(selector);
    await field("waves").fill("");
    await field("maxConcurrency").fill("1");
    await field("maxErrors").fill("0");
    await field("submit").click();
    await field("started")
      .filter({ hasText: /started / })
      .and(page.locator(`:not(:text-is("${before}"))`))
      .waitFor();
    const id = (await field("started").innerText()).replace(/^started /, "");
    await page.locator("#rollout-id").filter({ hasText: id }).waitFor();
    await page.getByTestId("rollout-state").filter({ hasText: "Halted" }).waitFor({ timeout: 120_000 });
    const back = names.length - 1;
    await page
      .getByTestId("rollout-rollback")
      .filter({ hasText: `rollback Completed: ${back} of ${back} back, 0 failed, 0 not possible` })
      .waitFor();
    const row = (tenant: string) =>
      page
        .locator(`#rollout-tenants tr[data-rollout-tenant="${tenant}"]`)
        .getByTestId("rollout-tenant-rollback");
    await row(names[0]!)
      .filter({ hasText: `Completed to ${VERSION}: Succeeded` })
      .waitFor();
    assert.equal(await row(failing).innerText(), "", "the failed tenant never got 2.0.0");
    await field("onHalt").selectOption("stop");
  },
);

test("the Notifications view lists the subscription and its delivery log", { skip }, async () => {
  const subscription = page.locator("#subscriptions [data-subscription]").filter({ hasText: SECRET_SETTING });
  await subscription.waitFor();
  const rows = subscription.getByTestId("deliveries").locator("tr");
  await rows
    .filter({ hasText: "rollout.finished" })
    .getByTestId("delivery-result")
    .filter({ hasText: "Delivered" })
    .waitFor({ timeout: 60_000 });
  await rows.filter({ hasText: "deployment.finished" }).first().waitFor();
  assert.ok(
    received.some((e) => e.type === "rollout.finished"),
    JSON.stringify(received),
  );

  // npm start's own receiver: subscribed to every event type under its secret setting; a Delivered row
  // means it verified the signature (it answers 401 otherwise), and its loopback URL lists what it got.
  const printed = await s!.stack.waitForOutput(/Webhook receiver\s+(\S+)\s.*what it got: (\S+);/);
  const ours = page.locator("#subscriptions [data-subscription]").filter({ hasText: printed[1] });
  await ours.filter({ hasText: "WEBHOOK_SECRET_DEV_RECEIVER" }).waitFor();
  await ours
    .getByTestId("deliveries")
    .locator("tr")
    .filter({ hasText: "rollout.finished" })
    .getByTestId("delivery-result")
    .filter({ hasText: "Delivered" })
    .waitFor({ timeout: 60_000 });
  const got = (await (await fetch(printed[2])).json()) as { items: { type: string }[] };
  assert.ok(
    got.items.some((e) => e.type === "rollout.finished"),
    JSON.stringify(got),
  );

  assert.deepEqual(pageErrors, []);
  assert.equal(
    await page.getByTestId("error").isVisible(),
    false,
    await page.getByTestId("error").innerText(),
  );
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`dashboard fleet screenshot: ${SCREENSHOT}`);
});
