/**
 * Every app setting the customer agent app depends on, in one place: `infra/customer.bicep` sets each in
 * its `agentSettings` output and `test/infra/templates.test.ts` keeps the two in step.
 */
export const AGENT_SETTINGS = {
  /** The customer's namespace: a connection string, or `__fullyQualifiedNamespace` (+ `__clientId`). */
  serviceBus: "CUSTOMER_SERVICEBUS",
  commandQueue: "COMMAND_QUEUE",
  statusQueue: "STATUS_QUEUE",
  /** The Functions host's storage, which holds the agent's task hub (identity-based in Azure). */
  storage: "AzureWebJobsStorage",
  /** The task hub's name, read by host.json (`"hubName": "%AGENT_TASK_HUB%"`). */
  taskHub: "AGENT_TASK_HUB",
  /** The Provider's command-signing public keys (its JWKS, pinned at onboarding); empty: not verified. */
  providerKeys: "PROVIDER_SIGNING_KEYS",
  /** This customer's tenant name at the Provider: a command for another tenant is refused. */
  tenant: "AGENT_TENANT",
  /**
   * The customer's receipt-signing keys (lib/signing/keys.ts format: a versioned Key Vault key id, or
   * `file:<pem>` locally; comma-separated, the first signs): the agent signs its terminal statuses with
   * it. Empty: statuses go unsigned (a Provider holding this tenant's receipt keys then refuses outcomes).
   */
  signingKeys: "AGENT_SIGNING_KEYS",
} as const;
