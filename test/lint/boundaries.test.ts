/**
 * The code boundaries are enforced by lint (eslint.config.mjs), not by review: product code (lib/,
 * orchestrators/, activities/, triggers/, customer/) that imports dev/ fails `npm run lint`, and so does
 * a dev/ file that imports product code anywhere but dev/product.ts, the one documented crossing. Lints
 * in-memory sources under the repository's real config, as if they were files at the given paths.
 * (No import cycles between folders of lib/ is checked by test/lint/cycles.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ESLint } from "eslint";

const root = path.resolve(__dirname, "..", "..", "..");

async function boundaryErrors(file: string, source: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(source, { filePath: path.join(root, file) });
  return result.messages.filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);
}

const importsDev = (from: string) =>
  `import { startAzurite } from "${from}";\nexport const probe = startAzurite;\n`;

test("product code that imports dev/ fails lint", async () => {
  for (const [file, from] of [
    ["lib/deployments/boundary-probe.ts", "../../dev/azurite"],
    ["orchestrators/boundary-probe.ts", "../dev/azurite"],
    ["activities/boundary-probe.ts", "../dev/azurite"],
    ["triggers/boundary-probe.ts", "../dev/azurite"],
    ["customer/agent/boundary-probe.ts", "../../dev/azurite"],
  ]) {
    const errors = await boundaryErrors(file, importsDev(from));
    assert.equal(errors.length, 1, `${file} importing ${from}: ${JSON.stringify(errors)}`);
    assert.match(errors[0], /never imports dev\//);
  }
});

test("product code importing product code, and dev/ or tests importing dev/, pass", async () => {
  assert.deepEqual(
    await boundaryErrors(
      "lib/deployments/boundary-probe.ts",
      `export { ORCHESTRATIONS } from "./contract";\n`,
    ),
    [],
  );
  assert.deepEqual(await boundaryErrors("dev/boundary-probe.ts", importsDev("./azurite")), []);
  assert.deepEqual(await boundaryErrors("test/dev/boundary-probe.ts", importsDev("../../dev/azurite")), []);
});

const importsProduct = (from: string) =>
  `import { SettlementGate } from "${from}";\nexport const probe = SettlementGate;\n`;

test("dev/ importing product code anywhere but dev/product.ts fails lint", async () => {
  for (const [file, from] of [
    ["dev/boundary-probe.ts", "../lib/messaging/settlement-gate"],
    ["dev/host/boundary-probe.ts", "../../lib/messaging/settlement-gate"],
    ["dev/servicebus-emulator/boundary-probe.ts", "../../lib"],
    ["dev/boundary-probe.ts", "../customer/agent/orchestration"],
    ["dev/durable/boundary-probe.ts", "../../orchestrators/deployment"],
    ["dev/host/boundary-probe.ts", "../../activities/send-command"],
    ["dev/host/boundary-probe.ts", "../../triggers/tenants"],
  ]) {
    const errors = await boundaryErrors(file, importsProduct(from));
    assert.equal(errors.length, 1, `${file} importing ${from}: ${JSON.stringify(errors)}`);
    assert.match(errors[0], /only through dev\/product\.ts/);
  }
  const reExport = `export { SettlementGate } from "../../lib/messaging/settlement-gate";\n`;
  assert.equal((await boundaryErrors("dev/host/boundary-probe.ts", reExport)).length, 1);
});

test("the crossing dev/product.ts may import product code, and dev/ imports it", async () => {
  assert.deepEqual(
    await boundaryErrors("dev/product.ts", importsProduct("../lib/messaging/settlement-gate")),
    [],
  );
  assert.deepEqual(await boundaryErrors("dev/host/boundary-probe.ts", importsProduct("../product")), []);
  // A dev/ folder whose name only resembles a product folder is not product code.
  assert.deepEqual(
    await boundaryErrors("dev/host/boundary-probe.ts", importsProduct("../servicebus-emulator/lib")),
    [],
  );
});
