/**
 * The customer agent Function App, a Durable Functions app: the command receiver on the customer's
 * command queue (identity-based connection `CUSTOMER_SERVICEBUS__fullyQualifiedNamespace` in Azure),
 * which validates each command, starts or signals the attempt's `agentDeployment` orchestration and
 * settles the message itself (../agent/command-receiver.ts: a refused command is dead-lettered with its
 * reason); the orchestration and its activities (plan, one deployer step each, status sends to the
 * status queue). The task hub lives in `AzureWebJobsStorage`, named by `AGENT_TASK_HUB` (host.json).
 *
 * The receiver runs from a timer, not a Service Bus trigger: a Node Service Bus trigger can only complete
 * its message or fail the invocation, so a refusal would reach the dead-letter queue as
 * `MaxDeliveryCountExceeded` after every redelivery. A run every 5 s drains the queue (COMMAND_RECEIVE).
 */
import { app, InvocationContext, type Timer } from "@azure/functions";
import type { ServiceBusClient, ServiceBusReceiver, ServiceBusSender } from "@azure/service-bus";
import * as df from "durable-functions";
import { appIdentityCredential } from "../../lib/credentials/app-identity";
import { invocationLogger } from "../../lib/logging/logger";
import { serviceBusClientFromSetting } from "../../lib/messaging/connection-setting";
import { type ProviderTrust, trustFromSettings } from "../../lib/messaging/command-trust";
import type { Status } from "../../lib/messaging/contracts";
import { type SigningKey, signingKeysFrom } from "../../lib/signing/keys";
import { planActivity, probeActivity, sendStatusActivity, stepActivity } from "../agent/activities";
import { COMMAND_RECEIVE, RECEIVER_OPTIONS, receiveCommandsFor } from "../agent/command-receiver";
import { createCommandHandler } from "../agent/commands";
import { demoDeployer } from "../agent/deployer";
import { durableInstances } from "../agent/instances";
import {
  AGENT_ACTIVITIES,
  AGENT_ORCHESTRATION,
  agentOrchestrator,
  type PlanInput,
  type ProbeInput,
  type StepInput,
} from "../agent/orchestration";
import { AGENT_SETTINGS } from "../agent/settings";
import { statusSender } from "../agent/status";

const deployer = demoDeployer;
let client: ServiceBusClient | undefined;
let sender: ServiceBusSender | undefined;

// The receipt-signing key is read once per process; a malformed setting fails every terminal send, loudly.
let receiptKey: Promise<SigningKey | undefined> | undefined;
const sendStatus = statusSender(
  async (message) => {
    client ??= serviceBusClientFromSetting(AGENT_SETTINGS.serviceBus);
    sender ??= client.createSender(process.env[AGENT_SETTINGS.statusQueue] || "status");
    await sender.sendMessages(message);
  },
  () =>
    (receiptKey ??= signingKeysFrom(process.env[AGENT_SETTINGS.signingKeys], {
      setting: AGENT_SETTINGS.signingKeys,
      // App Service sets WEBSITE_INSTANCE_ID on every Azure instance: file: keys only run outside Azure.
      localMode: !process.env.WEBSITE_INSTANCE_ID,
      // The agent's user-assigned identity, the one its Service Bus connection names.
      credential: () => appIdentityCredential(process.env[`${AGENT_SETTINGS.serviceBus}__clientId`]),
    }).then((keys) => keys[0])),
);

// One handler for the app: it serializes the commands of one attempt within this process.
// The pinned keys are read once per process; a malformed setting fails every command, loudly.
let trust: ProviderTrust | undefined;
let trustRead = false;
const commands = createCommandHandler({
  sendStatus,
  trust: () => {
    if (!trustRead) {
      trust = trustFromSettings(
        process.env[AGENT_SETTINGS.providerKeys],
        process.env[AGENT_SETTINGS.tenant],
        { keys: AGENT_SETTINGS.providerKeys, tenant: AGENT_SETTINGS.tenant },
      );
      trustRead = true;
    }
    return trust;
  },
});

let receiver: ServiceBusReceiver | undefined;
let stopping = false;
let receiving: Promise<unknown> | undefined;

app.timer("agentCommands", {
  schedule: COMMAND_RECEIVE.schedule,
  // At start-up too, so a restarted agent takes commands at once. Azure advises against runOnStartup where
  // an extra run costs something; here a run is idempotent and ends as soon as the queue is empty, and only
  // the instance holding the timer's lock runs it.
  runOnStartup: true,
  extraInputs: [df.input.durableClient()],
  handler: async (_timer: Timer, context: InvocationContext) => {
    if (stopping) return;
    const log = invocationLogger(context);
    const instances = durableInstances(df.getClient(context));
    client ??= serviceBusClientFromSetting(AGENT_SETTINGS.serviceBus);
    receiver ??= client.createReceiver(
      process.env[AGENT_SETTINGS.commandQueue] || "commands",
      RECEIVER_OPTIONS,
    );
    const run = receiveCommandsFor(
      receiver,
      (message) => commands.handle(message, instances, log),
      {
        until: Date.now() + COMMAND_RECEIVE.runMs,
        maxMessages: COMMAND_RECEIVE.maxMessages,
        maxWaitMs: COMMAND_RECEIVE.maxWaitMs,
        stopping: () => stopping,
      },
      log,
    );
    receiving = run.catch(() => undefined);
    const summary = await run;
    if (summary.received > 0) log.info("commands received", { ...summary });
  },
});

df.app.orchestration(AGENT_ORCHESTRATION, agentOrchestrator);

df.app.activity(AGENT_ACTIVITIES.plan.name, {
  handler: (input: PlanInput, context: InvocationContext) =>
    planActivity(deployer, input, invocationLogger(context)),
});

df.app.activity(AGENT_ACTIVITIES.step.name, {
  handler: (input: StepInput, context: InvocationContext) =>
    stepActivity(deployer, input, invocationLogger(context)),
});

df.app.activity(AGENT_ACTIVITIES.probe.name, {
  handler: (input: ProbeInput, context: InvocationContext) =>
    probeActivity(deployer, input, invocationLogger(context)),
});

df.app.activity(AGENT_ACTIVITIES.sendStatus.name, {
  handler: (status: Status, context: InvocationContext) =>
    sendStatusActivity(sendStatus, status, invocationLogger(context)),
});

// On a graceful stop: take no more commands, let the batch in hand be handled and settled (a receive
// waits at most COMMAND_RECEIVE.maxWaitMs), then close the Service Bus link so in-flight sends end now.
app.hook.appTerminate(async () => {
  stopping = true;
  await receiving;
  const closing = client;
  client = undefined;
  sender = undefined;
  receiver = undefined;
  await closing?.close();
});
