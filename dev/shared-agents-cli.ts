/**
 * `node dist/dev/shared-agents-cli.js --config <file>`: the agents of several simulated customers in one
 * process (dev/shared-agents.ts), a part of `npm start`. The file holds `[{ tenant, connectionString,
 * commandQueue?, statusQueue? }]`. Prints `ready {"tenants":[...]}` (dev/part.ts).
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { announceReady, stopOnSignals } from "./part";
import { type SharedAgentCustomer, startSharedAgents } from "./shared-agents";

function main(): void {
  const { values } = parseArgs({ options: { config: { type: "string" } } });
  if (!values.config) throw new Error("--config <file> is required");
  const customers = JSON.parse(fs.readFileSync(values.config, "utf8")) as SharedAgentCustomer[];
  const agents = startSharedAgents(customers);
  stopOnSignals(() => agents.close());
  announceReady({ tenants: customers.map((c) => c.tenant) });
}

try {
  main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
