/*
 * The dashboard's fleet views, inlined into the page before its main script (lib/dashboard/page.ts):
 * the New rollout form, the version matrix (GET /api/inventory) and the notification deliveries
 * (GET /api/subscriptions, /deliveries). It calls the page's helpers at run time: api (the caller's own
 * rights), apiProblem (the API's problem+json, kept whole), el (data as text), act, refresh, and the
 * Rollouts view's selectRollout. Everything is read through the public API, never from elsewhere.
 */
/* global act, api, apiProblem, el, time, refresh, selectRollout */
/* exported refreshFleet */
"use strict";

/** The form's controls that a problem's `field` can name; the rest of a problem goes under the form. */
const ROLLOUT_FIELDS = [
  "release",
  "spec",
  "targets",
  "waves",
  "maxConcurrency",
  "maxErrors",
  "bakeSeconds",
  "approval",
  "onHalt",
];
const DELIVERIES_SHOWN = 10;

/** The label key and drift version the operator chose, kept across refreshes. */
let matrixKey = "ring";
let driftVersion = "";

/** "50%" stays a percentage, "3" becomes a number, "" is left out (the API's default). */
function budgetValue(text) {
  const t = String(text || "").trim();
  if (!t) return undefined;
  return t.endsWith("%") ? t : Number(t);
}

/**
 * One wave a line: `[name:] <selector>` or `[name:] <percent>%`; an empty last line is the rest. Names
 * default to wave-1, wave-2, ...
 */
function parseWaves(text) {
  const lines = String(text || "")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.map((line, i) => {
    const named = /^([A-Za-z0-9_. -]{1,64}):\s*(.*)$/.exec(line);
    const name = named ? named[1].trim() : `wave-${i + 1}`;
    const rest = named ? named[2].trim() : line;
    const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(rest);
    if (percent) return { name, percent: Number(percent[1]) };
    return rest && rest !== "*" ? { name, selector: rest } : { name };
  });
}

/** The POST /api/rollouts body the form says; a spec that is not JSON is a problem on `spec`. */
function rolloutRequest(f) {
  const body = {};
  const spec = String(f.get("spec") || "").trim();
  if (f.get("release")) body.release = f.get("release");
  if (spec) {
    try {
      body.spec = JSON.parse(spec);
    } catch (error) {
      throw { status: 400, errors: [{ field: "spec", message: `is not JSON: ${error.message}` }] };
    }
  }
  const selector = String(f.get("selector") || "").trim();
  body.targets = selector ? { selector } : {};
  const waves = parseWaves(f.get("waves"));
  if (waves.length) body.waves = waves;
  for (const k of ["maxConcurrency", "maxErrors"]) {
    const v = budgetValue(f.get(k));
    if (v !== undefined) body[k] = v;
  }
  const bake = String(f.get("bakeSeconds") || "").trim();
  if (bake) body.bakeSeconds = Number(bake);
  body.approval = f.get("approval") || "none";
  // "stop" is the default: left out, so a raw-spec rollout's body stays as before.
  if (f.get("onHalt") === "rollback") body.onHalt = "rollback";
  return body;
}

/** Shows each field error beside its control (by the field's first segment); the rest under the form. */
function showRolloutProblem(problem) {
  const form = document.getElementById("new-rollout");
  for (const box of form.querySelectorAll("[data-error-for]")) {
    box.textContent = "";
    box.classList.remove("shown");
  }
  const general = document.getElementById("new-rollout-problem");
  general.textContent = "";
  general.classList.remove("shown");
  if (!problem) return;
  const rest = [];
  for (const e of problem.errors || []) {
    const key = String(e.field || "").split(".")[0];
    const box = ROLLOUT_FIELDS.includes(key) ? form.querySelector(`[data-error-for="${key}"]`) : null;
    if (!box) {
      rest.push(`${e.field}: ${e.message}`);
      continue;
    }
    box.textContent = [box.textContent, `${e.field}: ${e.message}`].filter(Boolean).join(" · ");
    box.classList.add("shown");
  }
  if (rest.length || !(problem.errors || []).length) {
    general.textContent = [`${problem.status} ${problem.detail || problem.title || ""}`.trim(), ...rest].join(
      " · ",
    );
    general.classList.add("shown");
  }
}

function startRollout(event) {
  event.preventDefault();
  const f = new FormData(event.target);
  act("start rollout", async () => {
    let started;
    try {
      started = await apiProblem("/rollouts", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(rolloutRequest(f)),
      });
    } catch (problem) {
      if (problem instanceof Error) throw problem;
      return showRolloutProblem(problem);
    }
    showRolloutProblem(null);
    document.getElementById("new-rollout-started").textContent = `started ${started.id}`;
    selectRollout(started.id);
  });
}

/** Fills a select with values, keeping the one chosen (or `fallback` when it is gone). */
function fillSelect(select, values, fallback) {
  const chosen = select.value || fallback;
  select.replaceChildren(...values.map(([value, text]) => el("option", { value }, text)));
  select.value = values.some(([v]) => v === chosen) ? chosen : fallback;
}

/** Versions newest first, `none` (no release yet) last. */
function versionOrder(a, b) {
  if (a === "none" || b === "none") return a === "none" ? 1 : -1;
  const pa = a.split(/[.-]/).map(Number);
  const pb = b.split(/[.-]/).map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pb[i] - pa[i];
  return b.localeCompare(a);
}

function renderMatrix(inventory) {
  const byLabel = inventory.counts.byLabel || {};
  const keys = Object.keys(byLabel).sort();
  const keySelect = document.getElementById("matrix-key");
  fillSelect(
    keySelect,
    keys.map((k) => [k, k]),
    keys.includes(matrixKey) ? matrixKey : keys[0] || "",
  );
  matrixKey = keySelect.value;
  const rows = byLabel[matrixKey] || {};
  const versions = [...new Set(Object.values(rows).flatMap((c) => Object.keys(c)))].sort(versionOrder);
  document
    .getElementById("matrix-head")
    .replaceChildren(
      el(
        "tr",
        {},
        el("th", {}, matrixKey || "label"),
        ...versions.map((v) => el("th", { "data-version": v }, v)),
      ),
    );
  const values = Object.keys(rows).sort();
  document
    .getElementById("matrix")
    .replaceChildren(
      ...(values.length
        ? values.map((value) =>
            el(
              "tr",
              { "data-label-value": value },
              el("td", {}, el("strong", {}, value)),
              ...versions.map((v) => el("td", { "data-version": v }, rows[value][v] || "")),
            ),
          )
        : [el("tr", {}, el("td", { class: "empty" }, "No labelled tenants yet."))]),
    );
}

async function renderDrift(releases) {
  const select = document.getElementById("drift-version");
  fillSelect(
    select,
    [["", "(choose a version)"], ...releases.map((r) => [r.version, r.version])],
    driftVersion,
  );
  driftVersion = select.value;
  const out = document.getElementById("drift");
  if (!driftVersion) return (out.textContent = "");
  const behind = await api(`/inventory?behind=${encodeURIComponent(driftVersion)}`);
  const names = behind.items.map((t) => `${t.tenant} (${t.current ? t.current.release : "none"})`);
  out.textContent = names.length
    ? `${names.length} behind ${driftVersion}: ${names.join(", ")}`
    : `none behind ${driftVersion}`;
}

function deliveryRow(d) {
  return el(
    "tr",
    { "data-delivery": d.eventId },
    el("td", {}, time(d.at)),
    el("td", {}, d.eventType),
    el("td", { class: "mono" }, d.eventId),
    el("td", {}, d.attempt),
    el("td", {}, el("span", { class: `badge ${d.result}`, "data-testid": "delivery-result" }, d.result)),
    el("td", {}, d.status === undefined ? d.error || "" : d.status),
    el("td", {}, `${d.durationMs} ms`),
  );
}

async function renderSubscriptions() {
  const subs = (await api("/subscriptions")).items;
  const logs = await Promise.all(
    subs.map((s) => api(`/subscriptions/${encodeURIComponent(s.id)}/deliveries?top=${DELIVERIES_SHOWN}`)),
  );
  const box = document.getElementById("subscriptions");
  box.replaceChildren(
    ...(subs.length
      ? subs.map((s, i) =>
          el(
            "div",
            { "data-subscription": s.id, class: "subscription" },
            el(
              "p",
              {},
              el("strong", { class: "mono" }, s.url),
              el(
                "span",
                { class: "muted" },
                ` · ${s.events.join(", ")} · secret ${s.secretSetting} · ${s.id}`,
              ),
            ),
            logs[i].items.length
              ? el(
                  "table",
                  {},
                  el(
                    "thead",
                    {},
                    el(
                      "tr",
                      {},
                      ...["At", "Event", "Event id", "Attempt", "Result", "Status", "Took"].map((h) =>
                        el("th", {}, h),
                      ),
                    ),
                  ),
                  el("tbody", { "data-testid": "deliveries" }, ...logs[i].items.map(deliveryRow)),
                )
              : el("p", { class: "empty" }, "No deliveries yet."),
          ),
        )
      : [el("p", { class: "empty" }, "No subscriptions: POST /api/subscriptions.")]),
  );
}

/** Called by the page's refresh, after the Rollouts view. */
async function refreshFleet() {
  const [releases, inventory] = await Promise.all([api("/releases"), api("/inventory")]);
  const releaseSelect = document.getElementById("new-rollout-release");
  fillSelect(releaseSelect, [["", "(raw spec)"], ...releases.items.map((r) => [r.version, r.version])], "");
  renderMatrix(inventory);
  await renderDrift(releases.items);
  // Reading subscriptions needs other roles than deployments (docs/notifications.md): a refusal stays here.
  try {
    await renderSubscriptions();
  } catch (error) {
    document
      .getElementById("subscriptions")
      .replaceChildren(el("p", { class: "empty" }, `Notifications: ${error.message}`));
  }
}

document.getElementById("new-rollout").addEventListener("submit", startRollout);
document.getElementById("matrix-key").addEventListener("change", (e) => {
  matrixKey = e.target.value;
  refresh();
});
document.getElementById("drift-version").addEventListener("change", (e) => {
  driftVersion = e.target.value;
  refresh();
});
