/**
 * Light in-memory agents, for benchmarks and tests that measure the Provider alone: many simulated
 * customers' agents in one process. Each customer gets a peek-lock receiver on its command queue (16 concurrent calls, each message settled by the agent's own receiver rules: `commandSettler`), the
 * agent's real command handling (`customer/agent/commands.ts`) and the demo deployer, and a sender to its
 * status queue. The agent's Durable orchestration is replaced by an in-memory run of the same plan, steps
 * and statuses, so a thousand customers cost no task hub each. Not crash-safe: a run the process was in
 * when it died is lost (its deployment ends TimedOut on the Provider), which is why `npm start` runs the
 * real Durable agent for every customer (dev/agent-hosts.ts) and only the benchmarks (bench/agents.ts)
 * and the rollout e2e test use these.
 */
import { ServiceBusClient, type ServiceBusReceiver } from "@azure/service-bus";
import {
  type AgentInput,
  type AgentInstances,
  agentStatus,
  createCommandHandler,
  createLogger,
  demoDeployer,
  commandSettler,
  healthCheckOf,
  probeCount,
  RECEIVER_OPTIONS,
  type Status,
  type StatusState,
  statusMessage,
} from "./product";

export interface InMemoryAgentCustomer {
  tenant: string;
  connectionString: string;
  commandQueue?: string;
  statusQueue?: string;
}

/** Hundreds of customers in one process: the Provider's lines tell what happened, the agents stay quiet. */
const quiet = createLogger(() => {});

/** The orchestration's happy path and cancel between steps, in memory. */
async function runInMemory(
  { command }: AgentInput,
  cancelled: () => boolean,
  send: (status: Status) => Promise<void>,
  stopped: () => boolean = () => false,
): Promise<void> {
  let sequence = 0;
  // A stopped agent says nothing more (its process is going away, as a crashed one would).
  const report = async (state: StatusState, progress: number, message?: string) =>
    stopped()
      ? undefined
      : send(
          agentStatus(command, {
            state,
            progress,
            sequence: ++sequence,
            reportedAt: new Date().toISOString(),
            message,
          }),
        );
  if (command.type === "Cancel") return report("Cancelled", 0, "cancelled before it started");
  const plan = await demoDeployer.plan(command);
  if (plan.kind === "reject") return report("Rejected", 0, plan.message);
  if (plan.kind === "silent") return plan.afterAccept ? report("Accepted", 0, plan.message) : undefined;
  await report("Accepted", 0, plan.message);
  for (let step = 1; step <= plan.steps; step++) {
    if (stopped()) return;
    if (cancelled()) return report("Cancelled", 0, `cancelled before step ${step}`);
    const result = await demoDeployer.runStep(command, { step, steps: plan.steps });
    const progress = Math.round((step / plan.steps) * 100);
    if (result.kind === "failed") return report("Failed", progress, result.message);
    if (step === plan.steps) {
      await report("Succeeded", 100, `all ${plan.steps} steps done`);
      return watchHealth(command, report, stopped);
    }
    await report("InProgress", progress, `step ${step} of ${plan.steps}`);
  }
}

/** The orchestration's health probes after a success (a spec with a health check), in memory. */
async function watchHealth(
  command: AgentInput["command"],
  report: (state: StatusState, progress: number, message?: string) => Promise<void>,
  stopped: () => boolean,
): Promise<void> {
  const check = healthCheckOf(command.spec);
  if (!check) return;
  const probes = probeCount(check);
  const deadline = new Date(Date.now() + check.windowSeconds * 1000).toISOString();
  for (let probe = 1; probe <= probes; probe++) {
    // Unref'd and checked after: a closed agent neither waits for it nor reports.
    await new Promise((resolve) => setTimeout(resolve, check.intervalSeconds * 1000).unref());
    if (stopped()) return;
    const result = await demoDeployer.checkHealth(command, check.probe, { probe, probes, deadline });
    if (!result.healthy) return report("Unhealthy", 100, result.message);
  }
  return report("Healthy", 100, `${probes} probes passed`);
}

/**
 * The runs of one agent. `stop` ends them with the agent: each stops before its next step, and the agent's
 * close waits for them (a bounded while), so nothing of a closed agent runs, sends or logs afterwards.
 */
function inMemoryInstances(send: (status: Status) => Promise<void>): AgentInstances & {
  stop(): Promise<void>;
} {
  const runs = new Map<string, { status: string; cancelled: boolean }>();
  const running = new Set<Promise<void>>();
  let stopping = false;
  return {
    status: async (id) => runs.get(id)?.status,
    async start(id, input) {
      const run = { status: "Running", cancelled: false };
      runs.set(id, run);
      const done: Promise<void> = runInMemory(
        input,
        () => run.cancelled,
        send,
        () => stopping,
      )
        .catch((error: unknown) => {
          // A send cut by the agent's own close is the close, not a failure.
          if (!stopping) console.error(`agent run ${id}: ${String(error)}`);
        })
        .finally(() => {
          run.status = "Completed";
          running.delete(done);
        });
      running.add(done);
    },
    async raiseCancel(id) {
      const run = runs.get(id);
      if (run) run.cancelled = true;
    },
    async stop() {
      stopping = true;
      await Promise.race([
        Promise.allSettled([...running]),
        new Promise((resolve) => setTimeout(resolve, STOP_RUNS_MS).unref()),
      ]);
    },
  };
}

/** How long an agent's close waits for its runs to reach their next step (a demo step is short). */
const STOP_RUNS_MS = 5000;

function startAgent(client: ServiceBusClient, customer: InMemoryAgentCustomer): { close(): Promise<void> } {
  const sender = client.createSender(customer.statusQueue ?? "status");
  const send = async (status: Status) => sender.sendMessages(statusMessage(status));
  const agent = createCommandHandler({ sendStatus: send });
  const instances = inMemoryInstances(send);
  const receiver: ServiceBusReceiver = client.createReceiver(
    customer.commandQueue ?? "commands",
    RECEIVER_OPTIONS,
  );
  // Closing: no message is taken any more, and the handlers in flight finish first, each settling through
  // the live receive link. A settlement after the link closed goes through a management link instead, and
  // one opened while the client closes leaves its token-renewal timer behind (@azure/service-bus), which
  // holds the process open for 45 minutes.
  let closing = false;
  const handling = new Set<Promise<void>>();
  const subscription = receiver.subscribe(
    {
      processMessage: async (message) => {
        if (closing) return; // not settled: its lock runs out and the broker delivers it again
        let done!: () => void;
        const handled = new Promise<void>((resolve) => (done = resolve));
        handling.add(handled);
        try {
          await settleAfterHandling(message);
        } finally {
          handling.delete(handled);
          done();
        }
      },
      processError: async (args) => {
        console.error(`agent ${customer.tenant}: ${args.error.message}`);
      },
    },
    { autoCompleteMessages: false, maxConcurrentCalls: 16 },
  );
  const settleAfterHandling = commandSettler(
    receiver,
    (command) => agent.handle(command, instances, quiet),
    quiet,
  );
  return {
    async close() {
      closing = true;
      await Promise.allSettled([...handling]);
      await subscription.close();
      await instances.stop();
      await sender.close();
    },
  };
}

/** Starts every customer's agent; `close` stops them and their connections. */
export function startInMemoryAgents(customers: InMemoryAgentCustomer[]): { close(): Promise<void> } {
  // A connection per customer, as each customer's own agent has: links on one connection are authorised
  // one at a time by the client, which would make hundreds of customers wait on each other.
  const clients = customers.map((c) => new ServiceBusClient(c.connectionString));
  const agents = customers.map((c, i) => startAgent(clients[i] as ServiceBusClient, c));
  return {
    async close() {
      await Promise.allSettled(agents.map((a) => a.close()));
      await Promise.allSettled(clients.map((c) => c.close()));
    },
  };
}
