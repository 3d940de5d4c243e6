/**
 * The customer agent Function App, a Durable Functions app: a Service Bus trigger on the customer's
 * command queue (identity-based connection `CUSTOMER_SERVICEBUS__fullyQualifiedNamespace` in Azure) that
 * validates each command and starts or signals the attempt's `agentDeployment` orchestration, then
 * returns so the message is completed at once; the orchestration and its activities (plan, one deployer
 * step each, status sends to the status queue). The task hub lives in `AzureWebJobsStorage`, named by
 * `AGENT_TASK_HUB` (host.json). An invalid command fails the invocation; after the queue's
 * MaxDeliveryCount the broker dead-letters it.
 */
import { app, InvocationContext } from "@azure/functions";
import type { ServiceBusClient, ServiceBusSender } from "@azure/service-bus";
import * as df from "durable-functions";
import { appIdentityCredential } from "../../lib/credentials/app-identity";
import { invocationLogger } from "../../lib/logging/logger";
import { serviceBusClientFromSetting } from "../../lib/messaging/connection-setting";
import { type ProviderTrust, trustFromSettings } from "../../lib/messaging/command-trust";
import type { Status } from "../../lib/messaging/contracts";
import { type SigningKey, signingKeysFrom } from "../../lib/signing/keys";
import { planActivity, sendStatusActivity, stepActivity } from "../agent/activities";
import { createCommandHandler } from "../agent/commands";
import { demoDeployer } from "../agent/deployer";
import { durableInstances } from "../agent/instances";
import {
  AGENT_ACTIVITIES,
  AGENT_ORCHESTRATION,
  agentOrchestrator,
  type PlanInput,
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

app.serviceBusQueue("agentCommands", {
  connection: AGENT_SETTINGS.serviceBus,
  queueName: `%${AGENT_SETTINGS.commandQueue}%`,
  extraInputs: [df.input.durableClient()],
  handler: async (body: unknown, context: InvocationContext) => {
    const meta = context.triggerMetadata ?? {};
    await commands.handle(
      {
        body,
        contentType: typeof meta.contentType === "string" ? meta.contentType : undefined,
        applicationProperties: (meta.applicationProperties ?? undefined) as
          Record<string, unknown> | undefined,
        messageId: typeof meta.messageId === "string" ? meta.messageId : undefined,
        deliveryCount: typeof meta.deliveryCount === "number" ? meta.deliveryCount : undefined,
      },
      durableInstances(df.getClient(context)),
      invocationLogger(context),
    );
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

df.app.activity(AGENT_ACTIVITIES.sendStatus.name, {
  handler: (status: Status, context: InvocationContext) =>
    sendStatusActivity(sendStatus, status, invocationLogger(context)),
});

// On a graceful stop, close the Service Bus link so in-flight sends end now, not at the drain deadline.
app.hook.appTerminate(async () => {
  const closing = client;
  client = undefined;
  sender = undefined;
  await closing?.close();
});
