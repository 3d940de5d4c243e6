// Provider side: the Function App that runs the orchestrator, its storage, and the user-assigned managed
// identity that signs in to customer directories as the multi-tenant app (federated credential, no secret).
// No shared key anywhere: storage, Application Insights and the host's keys (Key Vault) are reached with
// that identity only, and publishing takes an Entra sign-in (basic publishing credentials are off).
// The HTTP API sits behind App Service Authentication (Entra ID, a single-tenant API app whose roles are
// declared here), and the app's role checks are always on.
// Deploy: az deployment group create -g <rg> -f infra/provider.bicep -p appClientId=<multi-tenant app id> appObjectUniqueName=<app uniqueName>
// Network: `networkMode=public` (default) runs on Linux Consumption (Y1), with no virtual network.
// `networkMode=private` runs on Flex Consumption (FC1: virtual network integration, Durable Functions, and
// identity-based package storage), in a virtual network with an integration subnet and a private-endpoint subnet, the privatelink.servicebus.windows.net zone linked to it, and one
// private endpoint per private customer (`privateCustomers`), each pending until the customer approves it.
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
@description('Hosts webhook subscriptions may target: host names or .suffixes, comma-separated (docs/notifications.md). Empty: none.')
param webhookAllowedHosts string = ''
@description('uniqueName of the Provider API\'s own app registration (single-tenant; App Service Authentication and the app roles).')
param apiAppUniqueName string = '${name}-provider-api'
@description('public: Linux Consumption, customers\' namespaces over their public endpoints. private: a plan with virtual network integration, the virtual network, the Service Bus private DNS zone and one private endpoint per private customer.')
@allowed(['public', 'private'])
param networkMode string = 'public'
@description('private only: the virtual network\'s address space and its two subnets.')
param vnetAddressPrefix string = '10.40.0.0/16'
param integrationSubnetPrefix string = '10.40.0.0/24'
param privateEndpointSubnetPrefix string = '10.40.1.0/24'
@description('private only: the customers reached through a private endpoint, one { tenant, namespaceId } each: tenant = the registration\'s name (network: private), namespaceId = the resource id of its namespace (infra/customer.bicep output namespaceResourceId).')
param privateCustomers array = []

var suffix = uniqueString(resourceGroup().id)
var isPrivate = networkMode == 'private'
// The private mode's plan is Flex Consumption. Elastic Premium is not offered: on Linux it keeps its
// content on an Azure Files share that takes the account key, and this storage account has none
// (docs/deploy-to-azure.md, "Private network").
var isFlex = isPrivate
var vnetName = '${name}-vnet'
var integrationSubnetName = 'integration'
var privateEndpointSubnetName = 'private-endpoints'
// Service Bus private endpoints resolve through this zone (the public name is a CNAME into it).
var serviceBusPrivateDnsZone = 'privatelink.servicebus.windows.net'
// Flex Consumption takes the runtime from functionAppConfig and refuses these as app settings.
var flexManagedSettings = ['FUNCTIONS_EXTENSION_VERSION', 'FUNCTIONS_WORKER_RUNTIME']

// Built-in role definition ids.
// Storage Blob Data Owner: the Functions host keeps its leases and keys (secrets container) in blobs and
// the Durable Azure Storage backend creates its task hub's containers (large messages, leases); creating
// containers and setting blob leases needs Owner, not Contributor.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
// Storage Queue Data Contributor: the Durable backend's control and work-item queues (create, send,
// receive, delete); the host needs no more on queues.
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
// Storage Table Data Contributor: the Durable backend's History and Instances tables, and our own
// tables (tenants, deployments, tenant health, rollouts), created on first use.
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
// Monitoring Metrics Publisher: the only way to send telemetry to Application Insights with local
// (key-based) ingestion disabled.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
// Key Vault Secrets Officer: the host reads, creates and rotates its function and host keys as secrets.
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
// Key Vault Crypto User: sign with the command-signing key and read its public part; the private key
// never leaves the vault.
var keyVaultCryptoUser = '12338af0-0e69-4776-bea7-57ae8d297424'

// The API's roles (lib/http/auth.ts ROLES; docs/security.md "Roles"). Ids are derived, so a redeploy
// keeps each role's id and the assignments made to it.
var apiRoles = [
  { value: 'Tenants.Read', description: 'Read tenant registrations, their health and onboarding steps.' }
  { value: 'Tenants.Admin', description: 'Register, replace, verify and delete tenants.' }
  { value: 'Deployments.Read', description: 'Read deployments and rollouts.' }
  { value: 'Deployments.Write', description: 'Start, cancel, retry, terminate and rewind deployments; start and drive rollouts.' }
  { value: 'Rollouts.Approve', description: 'Approve a rollout waiting at an approval gate.' }
  { value: 'Audit.Read', description: 'Read the audit trail.' }
  { value: 'Durable.Admin', description: 'Use the Durable extension\'s management links (they carry the task hub\'s system key).' }
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: toLower('${name}${suffix}')
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    // Only Entra ID (the app's identity) opens the account: no account key, no SAS from a key.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Reachable from the app's outbound addresses (the Consumption plan's shared ones, or the private
    // mode's NAT gateway); Entra ID is the gate (docs/deploy-to-azure.md, "Network").
    publicNetworkAccess: 'Enabled'
  }
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-provider-id'
  location: location
}

// Public: Linux Consumption (Y1), which cannot join a virtual network. Private: Flex Consumption (FC1),
// Linux, with virtual network integration and Durable Functions. A plan does not change between these
// families in place: a private Provider is a new deployment (docs/deploy-to-azure.md).
resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: '${name}-plan'
  location: location
  sku: isFlex ? { name: 'FC1', tier: 'FlexConsumption' } : { name: 'Y1', tier: 'Dynamic' }
  kind: isFlex ? 'functionapp' : null
  properties: { reserved: true }
}

// Private mode: everything the app calls that is not a private endpoint (Entra ID, its storage, Key Vault,
// Application Insights, public customers' namespaces) leaves the integration subnet through this NAT
// gateway: new subnets get no default outbound access, and the Provider gets one stable outbound address.
resource natAddress 'Microsoft.Network/publicIPAddresses@2023-11-01' = if (isPrivate) {
  name: '${name}-nat-ip'
  location: location
  sku: { name: 'Standard' }
  properties: { publicIPAllocationMethod: 'Static' }
}

resource nat 'Microsoft.Network/natGateways@2023-11-01' = if (isPrivate) {
  name: '${name}-nat'
  location: location
  sku: { name: 'Standard' }
  properties: { publicIpAddresses: [{ id: natAddress.id }] }
}

// Private mode: the app's outbound traffic leaves through `integration` (delegated to Flex Consumption's
// platform, Microsoft.App/environments), and the private endpoints to customers' namespaces sit in `private-endpoints`.
resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = if (isPrivate) {
  name: vnetName
  location: location
  properties: {
    addressSpace: { addressPrefixes: [vnetAddressPrefix] }
    subnets: [
      {
        name: integrationSubnetName
        properties: {
          addressPrefix: integrationSubnetPrefix
          natGateway: { id: nat.id }
          delegations: [
            {
              name: 'functions'
              properties: { serviceName: 'Microsoft.App/environments' }
            }
          ]
        }
      }
      {
        name: privateEndpointSubnetName
        properties: { addressPrefix: privateEndpointSubnetPrefix, privateEndpointNetworkPolicies: 'Disabled' }
      }
    ]
  }
}

// The app resolves customers' namespaces through this zone: each private endpoint writes its namespace's
// A record here, so `<namespace>.servicebus.windows.net` answers the endpoint's private address.
resource serviceBusZone 'Microsoft.Network/privateDnsZones@2024-06-01' = if (isPrivate) {
  name: serviceBusPrivateDnsZone
  location: 'global'
}

// NxDomainRedirect (fallback to internet, API 2024-06-01 on): a namespace with any private endpoint, even
// another party's, CNAMEs into privatelink.servicebus.windows.net; with no record for it in this zone (a
// public customer's namespace, or a private one whose connection is not approved yet) the answer would be
// NXDOMAIN from this network. With the fallback it resolves publicly instead, so public customers keep
// working and verify sees a public address rather than no answer.
resource serviceBusZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = if (isPrivate) {
  parent: serviceBusZone
  name: vnetName
  location: 'global'
  properties: {
    registrationEnabled: false
    resolutionPolicy: 'NxDomainRedirect'
    virtualNetwork: { id: vnet.id }
  }
}

// One endpoint per private customer, pending until its admin approves (infra/modules/customer-private-endpoint.bicep).
module customerEndpoints 'modules/customer-private-endpoint.bicep' = [
  for customer in (isPrivate ? privateCustomers : []): {
    name: 'sb-${customer.tenant}'
    dependsOn: [serviceBusZoneLink]
    params: {
      tenant: customer.tenant
      namespaceId: customer.namespaceId
      subnetId: resourceId('Microsoft.Network/virtualNetworks/subnets', vnetName, privateEndpointSubnetName)
      privateDnsZoneId: serviceBusZone.id
      location: location
      requestMessage: 'Provider ${name}: private endpoint for tenant ${customer.tenant}'
    }
  }
]

// Flex Consumption: the app's package is a blob in the app's own storage, read with its identity.
resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = if (isFlex) {
  parent: blobService
  name: 'app-package'
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${name}-ai'
  location: location
  kind: 'web'
  // Telemetry only with an Entra token (Monitoring Metrics Publisher below): the connection string's
  // instrumentation key alone can no longer write to it.
  properties: { Application_Type: 'web', DisableLocalAuth: true }
}

// The host's function and host keys (AzureWebJobsSecretStorageType=keyvault), instead of blobs in storage.
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('${name}kv${suffix}', 24)
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

// The key that signs every command (ES256, docs/messages.md "Signed commands"). Rotation: create a new
// version, publish it beside the old one (COMMAND_SIGNING_KEYS lists both, the first signs), let the
// customers pin it, then drop the old one.
resource commandSigningKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'command-signing'
  properties: {
    kty: 'EC'
    curveName: 'P-256'
    keyOps: ['sign', 'verify']
  }
}

// The app settings: every setting the code reads (lib/config/settings.ts; a template test keeps them in step).
var appSettings = [
  { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
  { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'node' }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
  // Entra ID ingestion with the user-assigned identity (local auth is disabled on the component).
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
  // Identity-based storage for the host, the Durable extension and our tables (lib/config/settings.ts).
  { name: 'AzureWebJobsStorage__accountName', value: storage.name }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
  // The host's keys live in Key Vault, read with the user-assigned identity.
  { name: 'AzureWebJobsSecretStorageType', value: 'keyvault' }
  { name: 'AzureWebJobsSecretStorageKeyVaultUri', value: vault.properties.vaultUri }
  { name: 'AzureWebJobsSecretStorageKeyVaultClientId', value: identity.properties.clientId }
  { name: 'SERVICEBUS_ALLOWED_NAMESPACE_SUFFIXES', value: allowedNamespaceSuffixes }
  { name: 'PROVIDER_APP_CLIENT_ID', value: appClientId }
  { name: 'PROVIDER_MANAGED_IDENTITY_CLIENT_ID', value: identity.properties.clientId }
  { name: 'AZURE_AUTHORITY_HOST', value: environment().authentication.loginEndpoint }
  // Always on: the API trusts the principal only behind App Service Authentication (authSettings
  // below), and refuses to serve (503) if that is ever switched off (lib/http/platform-auth.ts).
  { name: 'AUTH_REQUIRE_ROLES', value: 'true' }
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
  { name: 'ROLLOUTS_ALLOW_SELF_APPROVAL', value: 'false' }
  { name: 'WEBHOOK_ALLOWED_HOSTS', value: webhookAllowedHosts }
  // The versioned key id: the first listed signs, every listed key is published in the JWKS.
  { name: 'COMMAND_SIGNING_KEYS', value: commandSigningKey.properties.keyUriWithVersion }
  { name: 'STATUS_DELIVERY', value: 'pump' }
  { name: 'STATUS_POLL_SCHEDULE', value: '*/10 * * * * *' }
  // A registration may name only app settings with this prefix (its SAS, secret or certificate).
  { name: 'REGISTRATION_SETTING_PREFIX', value: 'TENANT_' }
]

// Private mode only: the resource group of the private endpoints to private customers, so onboarding names
// each one's exact id. A public Provider has no private network and no endpoint: the setting is absent,
// and onboarding says so for a private tenant rather than name an endpoint that does not exist.
var privateAppSettings = isPrivate ? [
  { name: 'PRIVATE_ENDPOINTS_RESOURCE_GROUP_ID', value: resourceGroup().id }
] : []
var siteAppSettings = concat(appSettings, privateAppSettings)

resource functionApp 'Microsoft.Web/sites@2023-12-01' = {
  name: '${name}-provider-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  // The integration subnet and the package container are named, not referenced, below.
  dependsOn: [vnet, packageContainer]
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Private mode: the app joins the integration subnet. On Flex Consumption all its outbound traffic
    // goes through the virtual network (there is no route-all switch to set), so customers' namespaces
    // resolve through the private DNS zone and are reached over their private endpoints.
    virtualNetworkSubnetId: isPrivate ? resourceId('Microsoft.Network/virtualNetworks/subnets', vnetName, integrationSubnetName) : null
    functionAppConfig: isFlex ? {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}app-package'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 100, instanceMemoryMB: 2048 }
      // Node 22 LTS: Flex Consumption's Node 20 reached its end of life on 2026-04-30.
      runtime: { name: 'node', version: '22' }
    } : null
    siteConfig: {
      linuxFxVersion: isFlex ? null : 'Node|22'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: isFlex ? filter(siteAppSettings, setting => !contains(flexManagedSettings, setting.name)) : siteAppSettings
    }
  }
}

// Basic (user name and password) publishing credentials off: deploying takes an Entra sign-in.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: functionApp
  name: 'ftp'
  properties: { allow: false }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2023-12-01' = {
  parent: functionApp
  name: 'scm'
  properties: { allow: false }
}

resource storageBlobs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, storageBlobDataOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, storageQueueDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, identity.id, storageTableDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource telemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, identity.id, monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource commandSigning 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: commandSigningKey
  name: guid(commandSigningKey.id, identity.id, keyVaultCryptoUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource hostKeys 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, identity.id, keyVaultSecretsOfficer)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The API's own app registration: single-tenant (only the Provider's directory signs in to the API; the
// multi-tenant app below is for customer directories and carries no API roles), with the app roles the
// code checks. Its service principal requires an assignment, so only users and apps granted a role get a
// token at all.
resource apiApp 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: apiAppUniqueName
  displayName: '${name} Provider API'
  signInAudience: 'AzureADMyOrg'
  api: { requestedAccessTokenVersion: 2 }
  web: {
    redirectUris: ['https://${functionApp.properties.defaultHostName}/.auth/login/aad/callback']
    // The dashboard's browser sign-in (/.auth/login/aad) with no client secret: an ID token.
    implicitGrantSettings: { enableIdTokenIssuance: true }
  }
  appRoles: [
    for role in apiRoles: {
      id: guid(apiAppUniqueName, role.value)
      value: role.value
      displayName: role.value
      description: role.description
      allowedMemberTypes: ['User', 'Application']
      isEnabled: true
    }
  ]
}

resource apiServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: apiApp.appId
  appRoleAssignmentRequired: true
}

// App Service Authentication in front of every request: a valid Entra ID token of the Provider's
// directory for the API app, or 401 (API callers get no login redirect). The platform then sets the
// x-ms-client-principal header the role checks read, and strips one a caller sent.
resource authSettings 'Microsoft.Web/sites/config@2023-12-01' = {
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      // The public keys customers pin and check: public by nature.
      excludedPaths: ['/api/.well-known/jwks.json']
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: apiApp.appId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: { allowedAudiences: [apiApp.appId] }
      }
    }
    login: { tokenStore: { enabled: false } }
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
output apiAppId string = apiApp.appId
output keyVaultUri string = vault.properties.vaultUri
// Private mode: the Provider's one outbound address (a public customer may allow it on its namespace).
output outboundAddress string = isPrivate ? natAddress.properties.ipAddress : ''

