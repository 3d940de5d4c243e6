/**
 * `node dist/dev/agent-hosts-cli.js --app <customer app dir> --config <file>`: the Durable agents of
 * several simulated customers in one process (dev/agent-hosts.ts), a part of `npm start`. The file holds
 * `[{ tenant, env }]`. Prints `ready {"agents":{"<tenant>":"<url>",...}}` (dev/part.ts).
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { type AgentHostCustomer, startAgentHosts } from "./agent-hosts";
import { announceReady, stopOnSignals } from "./part";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { app: { type: "string" }, config: { type: "string" } } });
  if (!values.app || !values.config) throw new Error("--app <dir> and --config <file> are required");
  const customers = JSON.parse(fs.readFileSync(values.config, "utf8")) as AgentHostCustomer[];
  const hosts = await startAgentHosts(values.app, customers);
  stopOnSignals(() => hosts.close());
  // One line per agent, so tools (dev/chaos.ts) find each one's Durable management API.
  for (const [tenant, url] of Object.entries(hosts.urls)) console.log(`${tenant}: agent host at ${url}`);
  announceReady({ agents: hosts.urls });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
