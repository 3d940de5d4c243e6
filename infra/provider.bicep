// Provider side: the Function App that runs the orchestrator, its storage, and the user-assigned managed
// identity that signs in to customer directories as the multi-tenant app (federated credential, no secret).
// Deploy: az deployment group create -g <rg> -f infra/provider.bicep -p appClientId=<multi-tenant app id> appObjectUniqueName=<app uniqueName>
extension microsoftGraphV1

@description('Name prefix for the resources.')
param name string = 'xtdeploy'
param location string = resourceGroup().location
@description('Client (application) id of the Provider\'s multi-tenant app registration.')
param appClientId string
@description('uniqueName of that app registration in Microsoft Graph, for the federated credential.')
param appObjectUniqueName string
@description('Comma-separated host suffixes a customer namespace must end with.')
param allowedNamespaceSuffixes string = '.servicebus.windows.net'
@description('Enforce app roles from the EasyAuth principal on the HTTP API.')
param requireRoles bool = true

var suffix = uniqueString(resourceGroup().id)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: toLower('${name}${suffix}')
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: { minimumTlsVersion: 'TLS1_2', allowBlobPublicAccess: false, supportsHttpsTrafficOnly: true }
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-provider-id'
  location: location
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: '${name}-plan'
  location: location
  sku: { name: 'Y1', tier: 'Dynamic' }
  properties: { reserved: true }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${name}-ai'
  location: location
  kind: 'web'
  properties: { Application_Type: 'web' }
}

resource functionApp 'Microsoft.Web/sites@2023-12-01' = {
  name: '${name}-provider-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      linuxFxVersion: 'Node|20'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
        { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'node' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'AzureWebJobsStorage', value: 'DefaultEndpointsProtocol=https;AccountName=${storage.name};AccountKey=${storage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}' }
        { name: 'SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES', value: allowedNamespaceSuffixes }
        { name: 'PROVIDER_APP_CLIENT_ID', value: appClientId }
        { name: 'PROVIDER_MANAGED_IDENTITY_CLIENT_ID', value: identity.properties.clientId }
        { name: 'AZURE_AUTHORITY_HOST', value: environment().authentication.loginEndpoint }
        { name: 'AUTH_REQUIRE_ROLES', value: string(requireRoles) }
        { name: 'STATUS_POLL_WAIT_MS', value: '20000' }
        { name: 'STATUS_POLL_BATCH', value: '50' }
        { name: 'PUMP_REENSURE_SECONDS', value: '60' }
        { name: 'QUARANTINE_BAD_MESSAGES', value: '100' }
        { name: 'QUARANTINE_WINDOW_SECONDS', value: '600' }
        { name: 'CANCEL_GRACE_SECONDS', value: '30' }
        { name: 'COMMAND_SEND_ATTEMPTS', value: '5' }
        { name: 'COMMAND_RETRY_SECONDS', value: '2' }
        { name: 'ROLLOUT_BATCH_SIZE', value: '100' }
        { name: 'ROLLOUT_LANE_CONCURRENCY', value: '25' }
        { name: 'ROLLOUT_SWEEP_SECONDS', value: '30' }
        { name: 'STATUS_DELIVERY', value: 'pump' }
        { name: 'STATUS_POLL_SCHEDULE', value: '*/10 * * * * *' }
        // A registration may name only app settings with this prefix (its SAS, secret or certificate).
        { name: 'REGISTRATION_SETTING_PREFIX', value: 'TENANT_' }
      ]
    }
  }
}

// The managed identity becomes a federated credential of the multi-tenant app: the app's service
// principal in each customer directory is then usable with no secret anywhere.
resource app 'Microsoft.Graph/applications@v1.0' existing = {
  uniqueName: appObjectUniqueName
}

resource federatedCredential 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = {
  name: '${app.uniqueName}/${name}-provider-mi'
  audiences: ['api://AzureADTokenExchange']
  issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
  subject: identity.properties.principalId
}

output functionAppName string = functionApp.name
output managedIdentityClientId string = identity.properties.clientId
output managedIdentityPrincipalId string = identity.properties.principalId
