/**
 * The durable storage settings of one simulated customer's agent: the shared local Table Storage, but a
 * task hub of its own, so the Provider's instances and each agent's never mix (in Azure each customer's
 * agent has its own storage account; see infra/customer.bicep).
 */
export function agentStorageSettings(
  storageConnectionString: string,
  tenant: string,
): Record<string, string> {
  const name = tenant.replace(/[^A-Za-z0-9]/g, "");
  return {
    AzureWebJobsStorage: storageConnectionString,
    // Task hub names are 3-45 letters and digits starting with a letter.
    AGENT_TASK_HUB: `Agent${name.charAt(0).toUpperCase()}${name.slice(1)}`.slice(0, 45),
  };
}
