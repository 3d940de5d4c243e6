import { test } from "node:test";
import assert from "node:assert/strict";
import { planDemoWaves } from "../../dev/demo-rollouts";

test("the demo's rollouts go by ring when tenants carry one, else the first tenant and then the rest", () => {
  assert.deepEqual(planDemoWaves([{ name: "fabrikam" }, { name: "contoso" }]), {
    waves: [{ name: "first", tenants: ["contoso"] }, { name: "rest" }],
    first: ["contoso"],
  });
  const six = [
    ["alpha", "canary"],
    ["bravo", "early"],
    ["charlie", "early"],
    ["delta", "broad"],
    ["echo", "broad"],
    ["foxtrot", "broad"],
  ].map(([name, ring]) => ({ name: name!, labels: { ring: ring! } }));
  assert.deepEqual(planDemoWaves([...six].reverse()), {
    waves: [
      { name: "canary", selector: "ring=canary" },
      { name: "early", selector: "ring=early" },
      { name: "broad", selector: "ring=broad" },
    ],
    first: ["alpha"],
  });
  // One ring and unlabelled tenants: the ring, then the API's own last wave (`rest`).
  assert.deepEqual(planDemoWaves([{ name: "a", labels: { ring: "canary" } }, { name: "b" }]), {
    waves: [{ name: "canary", selector: "ring=canary" }],
    first: ["a"],
  });
  // Everyone in one ring: no second wave from labels, so the tenant lists decide.
  assert.deepEqual(
    planDemoWaves([
      { name: "b", labels: { ring: "broad" } },
      { name: "a", labels: { ring: "broad" } },
    ]).waves,
    [{ name: "first", tenants: ["a"] }, { name: "rest" }],
  );
  assert.deepEqual(planDemoWaves([{ name: "solo" }]), { waves: [{ name: "all" }], first: ["solo"] });
});
