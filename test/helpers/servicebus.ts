/** Starts the Service Bus emulator for a test and builds real @azure/service-bus clients against it. */
import { ServiceBusClient, ServiceBusClientOptions } from "@azure/service-bus";
import { RunningEmulator, startServiceBusEmulator } from "../../dev/servicebus-emulator";
import { statusMessage, type Command, type Status } from "../../lib/messaging/contracts";

export const FAST_RETRIES: ServiceBusClientOptions = {
  retryOptions: { maxRetries: 1, retryDelayInMs: 50, timeoutInMs: 5000 },
};

export interface QueueSpec {
  name: string;
  properties?: Record<string, unknown>;
  policies?: { Name: string; Key: string; Rights: string[] }[];
}

export function namespaceConfig(name: string, queues: QueueSpec[], extra: Record<string, unknown> = {}) {
  return {
    Name: name,
    Queues: queues.map((q) => ({
      Name: q.name,
      Properties: q.properties ?? {},
      ...(q.policies ? { SharedAccessPolicies: q.policies } : {}),
    })),
    ...extra,
  };
}

export async function startEmulator(
  namespaces: unknown[],
  options: { dataDir?: string } = {},
): Promise<RunningEmulator> {
  return startServiceBusEmulator(
    { UserConfig: { Namespaces: namespaces } },
    { ...options, certDir: process.env.DEV_CERT_DIR },
  );
}

export function clientFor(
  emulator: RunningEmulator,
  namespace?: string,
  options: ServiceBusClientOptions = FAST_RETRIES,
) {
  const ns = namespace ? emulator.namespace(namespace) : emulator.namespaces[0];
  if (!ns) throw new Error("no namespace");
  return new ServiceBusClient(ns.connectionString, options);
}

export function sasConnectionString(port: number, keyName: string, key: string, entityPath?: string): string {
  return `Endpoint=sb://localhost:${port};SharedAccessKeyName=${keyName};SharedAccessKey=${key};UseDevelopmentEmulator=true;${entityPath ? `EntityPath=${entityPath};` : ""}`;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The ServiceBusError code of an error, looking inside the AggregateError the client's retries produce. */
export function errorCodes(error: unknown): string[] {
  if (error instanceof AggregateError) return error.errors.flatMap(errorCodes);
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? [code] : [];
}

export const failsWith = (code: string) => (error: unknown) => errorCodes(error).includes(code);

/**
 * The agent's side in tests that play it: the next command of a type for a deployment, taken off the
 * customer's command queue (others taken on the way are dropped).
 */
export async function nextCommand(
  client: ServiceBusClient,
  deploymentId: string,
  type: Command["type"],
  timeoutMs = 10_000,
): Promise<Command> {
  const receiver = client.createReceiver("commands", { receiveMode: "receiveAndDelete" });
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const msgs = await receiver.receiveMessages(10, { maxWaitTimeInMs: 500 });
      const found = msgs
        .map((m) => m.body as Command)
        .find((c) => c.deploymentId === deploymentId && c.type === type);
      if (found) return found;
    }
    throw new Error(`no ${type} command for ${deploymentId}`);
  } finally {
    await receiver.close();
  }
}

/**
 * The agent's side: sends one status for a command's attempt on the customer's status queue. Progress is
 * 100 for Succeeded and 0 otherwise unless given.
 */
export async function sendStatus(
  client: ServiceBusClient,
  cmd: Pick<Command, "deploymentId" | "attempt">,
  state: Status["state"],
  sequence: number,
  more: { progress?: number; message?: string; detail?: Status["detail"] } = {},
): Promise<void> {
  const sender = client.createSender("status");
  try {
    await sender.sendMessages(
      statusMessage({
        schemaVersion: 1,
        deploymentId: cmd.deploymentId,
        attempt: cmd.attempt,
        state,
        progress: more.progress ?? (state === "Succeeded" ? 100 : 0),
        sequence,
        reportedAt: new Date().toISOString(),
        ...(more.message ? { message: more.message } : {}),
        ...(more.detail !== undefined ? { detail: more.detail } : {}),
      }),
    );
  } finally {
    await sender.close();
  }
}
