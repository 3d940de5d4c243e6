/**
 * The code boundaries are enforced by lint (eslint.config.mjs), not by review: product code (lib/,
 * orchestrators/, activities/, triggers/, customer/) that imports dev/ fails `npm run lint`. Lints
 * in-memory sources under the repository's real config, as if they were files at the given paths.
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
