// Customer side (deployed in the customer's own tenant): the Service Bus namespace with local (SAS) auth
// disabled, the command and status queues, and least-privilege data roles:
//   Provider's service principal: Data Sender on commands, Data Receiver on status (never namespace-wide).
//   Customer agent's managed identity: Data Receiver on commands, Data Sender on status.
// Deploy: az deployment group create -g <rg> -f infra/customer.bicep -p providerServicePrincipalObjectId=<object id after admin consent>

param name string = 'xtdeploy'
param location string = resourceGroup().location
@description('Object id of the Provider app\'s service principal in THIS directory (created by admin consent).')
param providerServicePrincipalObjectId string
param commandQueueName string = 'commands'
param statusQueueName string = 'status'

var dataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var dataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: '${name}-${uniqueString(resourceGroup().id)}'
  location: location
  sku: { name: 'Standard', tier: 'Standard' }
  properties: { disableLocalAuth: true, minimumTlsVersion: '1.2' }
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

// App settings for the customer agent Function App (identity-based Service Bus connection).
output agentSettings object = {
  CUSTOMER_SERVICEBUS__fullyQualifiedNamespace: '${namespace.name}.servicebus.windows.net'
  CUSTOMER_SERVICEBUS__clientId: agentIdentity.properties.clientId
  CUSTOMER_SERVICEBUS__credential: 'managedidentity'
  COMMAND_QUEUE: commandQueueName
  STATUS_QUEUE: statusQueueName
}
output namespaceFqdn string = '${namespace.name}.servicebus.windows.net'
