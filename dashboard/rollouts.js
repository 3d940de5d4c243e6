/*
 * The dashboard's Rollouts view, inlined into the page before its main script (lib/dashboard/page.ts),
 * whose helpers it calls at run time: api (the caller's own rights), el (data as text), act, refresh,
 * showDeployment. A rollout's detail is read again on every refresh while it is live; once it has ended,
 * its final view is kept, since an ended rollout never changes.
 */
/* global act, api, el, time, refresh, showDeployment */
/* exported refreshRollouts */
"use strict";

const ROLLOUT_FINAL = new Set(["Succeeded", "Halted", "Aborted"]);
/** When each control applies (docs/rollouts.md); the API refuses the rest with a 409 problem. */
const ROLLOUT_CONTROLS = {
  approve: (r) => r.state === "WaitingForApproval",
  pause: (r) => ["Running", "Baking", "WaitingForApproval"].includes(r.state) && !r.pauseRequested,
  // A resumed rollout shows Paused until its orchestration moves on; resuming it again would be refused.
  resume: (r) => r.state === "Paused" && Boolean(r.pauseRequested),
  abort: (r) => !ROLLOUT_FINAL.has(r.state),
};
/** The bar's segments, in the order they are drawn; the bar's empty rest is what is still pending. */
const ROLLOUT_SEGMENTS = ["succeeded", "failed", "cancelled", "running", "skipped"];

let selectedRollout = null;
/** The last view of the selected rollout (with its tenants). */
let rolloutDetail = null;
/** The problem the API answered the last control with, shown beside the controls until the next one. */
let rolloutProblem = null;

const rolloutPath = (id, action) => `/rollouts/${encodeURIComponent(id)}${action ? `/${action}` : ""}`;

function rolloutDuration(r) {
  const end = r.completedAt ? Date.parse(r.completedAt) : Date.now();
  const s = (end - Date.parse(r.createdAt)) / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** A stacked bar of a wave's counts; widths go through the CSSOM because the CSP ignores style attributes. */
function waveBar(w) {
  const total = w.total || 0;
  const summary = [...ROLLOUT_SEGMENTS, "pending"]
    .filter((k) => w[k])
    .map((k) => `${w[k]} ${k}`)
    .join(", ");
  const bar = el("span", {
    class: "stack",
    role: "img",
    "aria-label": `${summary || "nothing"} of ${total}`,
    title: `${summary || "nothing"} of ${total}`,
  });
  for (const k of ROLLOUT_SEGMENTS) {
    if (!w[k] || !total) continue;
    const part = el("i", { class: `seg-${k}` });
    part.style.width = `${(100 * w[k]) / total}%`;
    bar.append(part);
  }
  return bar;
}

function selectRollout(id) {
  if (selectedRollout !== id) {
    selectedRollout = id;
    rolloutDetail = null;
    rolloutProblem = null;
  }
  refresh();
}

function rolloutRow(r) {
  const tenants = r.waves.reduce((n, w) => n + (w.total || 0), 0);
  // A real button in the row, so a rollout can be chosen from the keyboard too.
  const choose = el(
    "button",
    {
      type: "button",
      class: "link",
      "aria-label": `Show rollout ${r.id}`,
      onclick: (event) => {
        event.stopPropagation();
        selectRollout(r.id);
      },
    },
    r.id,
  );
  return el(
    "tr",
    {
      "data-rollout": r.id,
      class: r.id === selectedRollout ? "selected" : "",
      onclick: () => selectRollout(r.id),
    },
    el("td", { class: "mono" }, choose),
    el("td", {}, el("span", { class: `badge ${r.state}`, "data-testid": "rollout-row-state" }, r.state)),
    el("td", {}, r.waves.map((w) => `${w.name} (${w.state})`).join(" · ")),
    el("td", {}, tenants),
    el("td", {}, r.maxErrors),
    el("td", {}, time(r.createdAt)),
    el("td", {}, rolloutDuration(r)),
  );
}

function waveRow(w) {
  const counts = ["succeeded", "failed", "cancelled", "running", "pending", "skipped", "total"];
  return el(
    "tr",
    { "data-wave": w.name },
    el("td", {}, el("strong", {}, w.name)),
    el(
      "td",
      {},
      el("span", { class: w.state, "data-testid": "wave-state" }, w.state),
      w.approvedBy
        ? el(
            "span",
            { class: "muted", "data-testid": "wave-approved-by" },
            ` approved by ${w.approvedBy.name}`,
          )
        : "",
    ),
    el("td", {}, waveBar(w)),
    ...counts.map((k) => el("td", { "data-testid": `wave-${k}` }, w[k] ?? 0)),
  );
}

function rolloutTenantRow(t) {
  const deployment = t.deploymentId
    ? el(
        "a",
        {
          href: "#detail",
          class: "mono",
          title: "Show this deployment's timeline",
          // The deployment is a normal one: its row and timeline are in the Deployments view.
          onclick: () => showDeployment(t.deploymentId),
        },
        t.deploymentId,
      )
    : "";
  return el(
    "tr",
    { "data-rollout-tenant": t.tenant },
    el("td", {}, el("strong", {}, t.tenant)),
    el("td", {}, t.wave),
    el("td", {}, el("span", { class: t.phase, "data-testid": "rollout-tenant-phase" }, t.phase)),
    el(
      "td",
      {},
      el(
        "span",
        { class: t.outcome ? `badge ${t.outcome}` : "", "data-testid": "rollout-tenant-outcome" },
        t.outcome || "",
      ),
      // A health-gated rollout's verdict on a succeeded tenant (Unhealthy spends the error budget).
      t.health
        ? el(
            "span",
            {
              class: `badge ${t.health}`,
              title: t.healthMessage || "",
              "data-testid": "rollout-tenant-health",
            },
            t.health,
          )
        : "",
    ),
    el("td", {}, deployment),
    el("td", {}, t.message || ""),
    el("td", { "data-testid": "rollout-tenant-rollback" }, rollbackText(t.rollback)),
  );
}

/** A tenant's rollback (onHalt "rollback") in one line: its state, release, outcome or why not. */
function rollbackText(rb) {
  if (!rb) return "";
  const to = rb.release ? ` to ${rb.release}` : "";
  const how = rb.outcome || rb.message || "";
  return `${rb.state}${to}${how ? `: ${how}` : ""}`;
}

/** The rollout's rollback summary: state and counts (empty when it rolled nothing back). */
function rollbackSummaryText(r) {
  const rb = r.rollback;
  if (!rb) return r.onHalt === "rollback" ? "on halt: roll back" : "";
  return `rollback ${rb.state}: ${rb.succeeded} of ${rb.tenants} back, ${rb.failed} failed, ${rb.notPossible} not possible`;
}

function renderRolloutDetail() {
  const box = document.getElementById("rollout");
  const r = rolloutDetail;
  if (!r) return (box.hidden = true);
  const live = !ROLLOUT_FINAL.has(r.state);
  document.getElementById("rollout-id").textContent = r.id;
  const state = document.getElementById("rollout-state");
  state.textContent = r.state;
  state.className = `badge ${r.state}`;
  const errors = document.getElementById("rollout-errors");
  errors.textContent = `errors ${r.errors ?? 0} of max ${r.maxErrors}`;
  errors.className = (r.errors ?? 0) > r.maxErrors ? "bad" : "";
  document.getElementById("rollout-rollback").textContent = rollbackSummaryText(r);
  document.getElementById("rollout-message").textContent = [
    live && r.pauseRequested && r.state !== "Paused" ? "pause requested" : "",
    live && r.abortRequested ? "abort requested" : "",
    r.message || "",
  ]
    .filter(Boolean)
    .join(" · ");
  for (const button of box.querySelectorAll("button[data-action]")) {
    button.disabled = !ROLLOUT_CONTROLS[button.dataset.action](r);
    button.setAttribute("aria-label", `${button.textContent} rollout ${r.id}`);
  }
  const problem = document.getElementById("rollout-problem");
  problem.textContent = rolloutProblem || "";
  problem.classList.toggle("shown", Boolean(rolloutProblem));
  // Who started it and every control given (four eyes: the approver is never the starter unless allowed).
  document.getElementById("rollout-who").textContent = [
    r.startedBy ? `started by ${r.startedBy.name}` : "",
    ...(r.controls || []).map((c) => `${c.action} by ${c.by.name} at ${time(c.at)}`),
  ]
    .filter(Boolean)
    .join(" · ");
  document.getElementById("rollout-waves").replaceChildren(...r.waves.map(waveRow));
  document.getElementById("rollout-tenants").replaceChildren(...(r.tenants || []).map(rolloutTenantRow));
  box.hidden = false;
}

/** Called by the page's refresh: the list every time, the selected rollout's detail while it is live. */
async function refreshRollouts() {
  const items = (await api("/rollouts?top=50")).items;
  document
    .getElementById("rollouts")
    .replaceChildren(
      ...(items.length
        ? items.map(rolloutRow)
        : [el("tr", {}, el("td", { class: "empty", colSpan: 7 }, "No rollouts yet: POST /api/rollouts."))]),
    );
  const listed = items.find((r) => r.id === selectedRollout);
  const settled =
    rolloutDetail &&
    rolloutDetail.id === selectedRollout &&
    ROLLOUT_FINAL.has(rolloutDetail.state) &&
    (!listed || listed.state === rolloutDetail.state);
  if (selectedRollout && !settled) rolloutDetail = await api(rolloutPath(selectedRollout));
  renderRolloutDetail();
}

function rolloutControl(action) {
  const id = selectedRollout;
  if (!id) return;
  // The problem is shown beside the controls, where the click was, rather than in the page's banner.
  return act(`${action} ${id}`, async () => {
    try {
      await api(rolloutPath(id, action), { method: "POST" });
      rolloutProblem = null;
    } catch (error) {
      // api() turns a problem+json answer into "<status> <detail> · <field>: <message>".
      rolloutProblem = `${action} ${id}: ${error.message}`;
    }
  });
}

for (const button of document.querySelectorAll("#rollout button[data-action]"))
  button.addEventListener("click", () => rolloutControl(button.dataset.action));
