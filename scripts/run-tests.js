// Runs every compiled test file (dist/test/**/*.test.js) with node:test.
// Node 20 has no glob support in `node --test`, so the files are listed here.
// Extra arguments are substrings that select test files, e.g. `npm run test:only -- tenants`.
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..", "dist", "test");
function collect(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return collect(full);
    return entry.name.endsWith(".test.js") ? [full] : [];
  });
}
const filters = process.argv.slice(2);
const files = collect(root)
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error(`no test files found under ${root}; run \`npm run build\` first`);
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? "2";

// TLS listeners in tests (emulator TLS port, local token issuer) serve the dev certificate; Node reads
// NODE_EXTRA_CA_CERTS only at process start, so it is made here and handed to the test processes.
async function main() {
  const { ensureDevCertificate } = require("../dist/dev/certs.js");
  const certDir = path.join(__dirname, "..", "dist", ".dev-cert");
  const cert = await ensureDevCertificate(certDir);
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: cert.certPath, DEV_CERT_DIR: certDir };
  const result = spawnSync(
    process.execPath,
    ["--enable-source-maps", "--test", `--test-concurrency=${concurrency}`, ...files],
    { stdio: "inherit", env },
  );
  process.exit(result.status ?? 1);
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
