// Customer side (deployed in the customer's own tenant): the Service Bus namespace with local (SAS) auth
// disabled, the command and status queues, and least-privilege data roles:
//   Provider's service principal: Data Sender on commands, Data Receiver on status (never namespace-wide).
//   Customer agent's managed identity: Data Receiver on commands, Data Sender on status.
// The agent is a Durable Functions app: its own storage account (account keys disabled) holds the
// Functions host's state and the agent's task hub, reached with the agent's managed identity only
// (Blob Data Owner, Queue and Table Data Contributor on that account, nothing else).
// Deploy: az deployment group create -g <rg> -f infra/customer.bicep -p providerServicePrincipalObjectId=<object id after admin consent> providerTenantName=<name at the Provider> providerSigningKeys="$(curl -s https://<provider>/api/.well-known/jwks.json)"
// Network: `networkMode=public` (default) keeps the namespace on its public endpoint, Entra ID the gate.
// `networkMode=private` makes it a Premium namespace with public network access disabled and no IP rules:
// reached only through private endpoints, the Provider's (created from the Provider's side, pending until
// this tenant's admin approves it: docs/onboarding.md "Private network") and the agent's own
// (`agentPrivateEndpointSubnetId`, in this tenant's virtual network).

param name string = 'xtdeploy'
param location string = resourceGroup().location
@description('Object id of the Provider app\'s service principal in THIS directory (created by admin consent).')
param providerServicePrincipalObjectId string
param commandQueueName string = 'commands'
param statusQueueName string = 'status'
@description('The agent\'s Durable task hub (3-45 letters and digits); one storage account per customer, so a fixed name is fine.')
param taskHubName string = 'CustomerAgent'
@description('This customer\'s tenant name at the Provider (its registration): the agent refuses commands for any other.')
param providerTenantName string
@description('The Provider\'s command-signing public keys, pinned: its JWKS as JSON (GET /api/.well-known/jwks.json, or the onboarding answer). The agent runs only commands these keys verify.')
param providerSigningKeys string
@description('public: a Standard namespace on its public endpoint. private: a Premium namespace with public network access disabled and no IP rules, reached only through private endpoints (the Provider\'s, approved by this tenant\'s admin, and the agent\'s).')
@allowed(['public', 'private'])
param networkMode string = 'public'
@description('private only: Premium messaging units of the namespace.')
@allowed([1, 2, 4, 8, 16])
param premiumMessagingUnits int = 1
@description('private only: resource id of the subnet (in the virtual network the agent app is integrated with) for the agent\'s own private endpoint to the namespace. Empty: none is created (bring your own).')
param agentPrivateEndpointSubnetId string = ''
@description('private only: resource id of the privatelink.servicebus.windows.net private DNS zone linked to the agent\'s virtual network, where the agent\'s endpoint registers the namespace\'s record. Empty: DNS is yours to manage.')
param agentPrivateDnsZoneId string = ''

var isPrivate = networkMode == 'private'
var agentEndpointWanted = isPrivate && !empty(agentPrivateEndpointSubnetId)

// Key Vault Crypto User: sign with the receipt key and read its public part; the private key never
// leaves the vault.
var keyVaultCryptoUser = '12338af0-0e69-4776-bea7-57ae8d297424'

var dataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var dataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

// Private endpoints need Premium; in private mode nothing reaches the namespace from the internet.
resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: '${name}-${uniqueString(resourceGroup().id)}'
  location: location
  sku: isPrivate ? { name: 'Premium', tier: 'Premium', capacity: premiumMessagingUnits } : { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: isPrivate ? 'Disabled' : 'Enabled'
  }
}

// Private mode: deny by default, no IP rules, no virtual network rules, no trusted-service exception;
// private endpoint connections are the only way in.
resource namespaceNetwork 'Microsoft.ServiceBus/namespaces/networkRuleSets@2022-10-01-preview' = if (isPrivate) {
  parent: namespace
  name: 'default'
  properties: {
    publicNetworkAccess: 'Disabled'
    defaultAction: 'Deny'
    ipRules: []
    virtualNetworkRules: []
    trustedServiceAccessEnabled: false
  }
}

// The agent's own way in (private mode): an endpoint in this tenant's network, approved at creation (the
// deployer holds the namespace). The Provider's endpoint is requested from the Provider's side instead.
resource agentEndpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = if (agentEndpointWanted) {
  name: '${name}-agent-sb'
  location: location
  properties: {
    subnet: { id: agentPrivateEndpointSubnetId }
    privateLinkServiceConnections: [
      {
        name: '${name}-agent-sb'
        properties: { privateLinkServiceId: namespace.id, groupIds: ['namespace'] }
      }
    ]
  }
}

resource agentEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = if (agentEndpointWanted && !empty(agentPrivateDnsZoneId)) {
  parent: agentEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [{ name: 'servicebus', properties: { privateDnsZoneId: agentPrivateDnsZoneId } }]
  }
}

resource commands 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: commandQueueName
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 5
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P1D'
  }
}

resource status 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: statusQueueName
  properties: {
    lockDuration: 'PT30S'
    maxDeliveryCount: 5
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P1D'
  }
}

resource agentIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-agent-id'
  location: location
}

// AzureWebJobsStorage of the agent app: host state (blobs) and the Durable task hub (queues, tables, blobs).
resource agentStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take(toLower('${replace(name, '-', '')}agent${uniqueString(resourceGroup().id)}'), 24)
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource providerSends 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: commands
  name: guid(commands.id, providerServicePrincipalObjectId, dataSender)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
    principalId: providerServicePrincipalObjectId
    principalType: 'ServicePrincipal'
  }
}

resource providerReceives 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: status
  name: guid(status.id, providerServicePrincipalObjectId, dataReceiver)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReceiver)
    principalId: providerServicePrincipalObjectId
    principalType: 'ServicePrincipal'
  }
}

resource agentReceives 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: commands
  name: guid(commands.id, agentIdentity.id, dataReceiver)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReceiver)
    principalId: agentIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource agentSends 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: status
  name: guid(status.id, agentIdentity.id, dataSender)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
    principalId: agentIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource agentBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: agentStorage
  name: guid(agentStorage.id, agentIdentity.id, storageBlobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: agentIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource agentQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: agentStorage
  name: guid(agentStorage.id, agentIdentity.id, storageQueueDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: agentIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource agentTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: agentStorage
  name: guid(agentStorage.id, agentIdentity.id, storageTableDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: agentIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The customer's own key: the agent signs its terminal statuses with it (signed receipts, docs/messages.md),
// so the Provider cannot claim an outcome the customer did not report. Its public key goes in the tenant's
// registration (`receiptKeys`, docs/onboarding.md). Rotation: a new version, registered beside the old one,
// then AGENT_SIGNING_KEYS switched to it.
resource receiptVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('${name}rk${uniqueString(resourceGroup().id)}', 24)
  location: location
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource receiptSigningKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: receiptVault
  name: 'receipt-signing'
  properties: {
    kty: 'EC'
    curveName: 'P-256'
    keyOps: ['sign', 'verify']
  }
}

resource agentSignsReceipts 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: receiptSigningKey
  name: guid(receiptSigningKey.id, agentIdentity.id, keyVaultCryptoUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoUser)
    principalId: agentIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// App settings for the customer agent Function App: identity-based Service Bus and storage connections
// (the agent's user-assigned identity), and the task hub its host.json names (%AGENT_TASK_HUB%).
output agentSettings object = {
  CUSTOMER_SERVICEBUS__fullyQualifiedNamespace: '${namespace.name}.servicebus.windows.net'
  CUSTOMER_SERVICEBUS__clientId: agentIdentity.properties.clientId
  CUSTOMER_SERVICEBUS__credential: 'managedidentity'
  COMMAND_QUEUE: commandQueueName
  STATUS_QUEUE: statusQueueName
  AzureWebJobsStorage__accountName: agentStorage.name
  AzureWebJobsStorage__clientId: agentIdentity.properties.clientId
  AzureWebJobsStorage__credential: 'managedidentity'
  AGENT_TASK_HUB: taskHubName
  PROVIDER_SIGNING_KEYS: providerSigningKeys
  AGENT_TENANT: providerTenantName
  AGENT_SIGNING_KEYS: receiptSigningKey.properties.keyUriWithVersion
}
// The receipt key's versioned id: its public part (Key Vault's JWK) is what the tenant registers.
output receiptSigningKeyId string = receiptSigningKey.properties.keyUriWithVersion
output agentIdentityResourceId string = agentIdentity.id
output namespaceFqdn string = '${namespace.name}.servicebus.windows.net'
// What the Provider's private endpoint is created from (infra/provider.bicep `privateCustomers`); not a secret.
output namespaceResourceId string = namespace.id
output networkMode string = networkMode
