/**
 * Benchmark helper: the customer agents of many simulated tenants in one child process
 * (dev/in-memory-agents.ts), so they run on the other core beside the Provider. The agent's Durable
 * orchestration is replaced by an in-memory run of the same plan / steps / statuses: many task hubs in
 * one process would measure the agents' durable engine, not the Provider, which is what the benchmarks
 * are about. Reads `[{ tenant, connectionString, commandQueue?, statusQueue? }]` as JSON on stdin;
 * prints `ready`.
 */
import { type InMemoryAgentCustomer, startInMemoryAgents } from "../dev/in-memory-agents";

async function main(): Promise<void> {
  let input = "";
  for await (const chunk of process.stdin) input += String(chunk);
  const agents = startInMemoryAgents(JSON.parse(input) as InMemoryAgentCustomer[]);
  console.log("ready");
  const stop = async () => {
    await agents.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

void main();
