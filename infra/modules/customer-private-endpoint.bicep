// One private endpoint from the Provider's virtual network to one private customer's Service Bus
// namespace (registration `network: private`), named `sb-<tenant>` as lib/tenants/network.ts expects.
// The namespace is in the customer's tenant, where the Provider holds no rights, so the connection is a
// manual request: it stays Pending, and carries no traffic, until the customer's admin approves it
// (docs/onboarding.md "Private network"; GET /api/tenants/{tenant}/onboarding lists the commands).
// The endpoint registers the namespace's A record in the Provider's privatelink.servicebus.windows.net zone.

@description('The tenant\'s registration name at the Provider (at most 61 characters: the endpoint is sb-<tenant>).')
@maxLength(61)
param tenant string
@description('Resource id of the customer\'s namespace (infra/customer.bicep output namespaceResourceId).')
param namespaceId string
@description('The Provider\'s private-endpoint subnet.')
param subnetId string
@description('The Provider\'s privatelink.servicebus.windows.net private DNS zone.')
param privateDnsZoneId string
param location string
@description('What the customer\'s admin sees on the pending connection.')
param requestMessage string

resource endpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: 'sb-${tenant}'
  location: location
  properties: {
    subnet: { id: subnetId }
    manualPrivateLinkServiceConnections: [
      {
        name: 'sb-${tenant}'
        properties: {
          privateLinkServiceId: namespaceId
          groupIds: ['namespace']
          requestMessage: requestMessage
        }
      }
    ]
  }
}

resource endpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [{ name: 'servicebus', properties: { privateDnsZoneId: privateDnsZoneId } }]
  }
}

output id string = endpoint.id
output name string = endpoint.name
