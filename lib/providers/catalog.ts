import type { ProviderCatalog } from '../config/catalog.ts';
import { upstreamProtocolNames } from '../protocols/registry.ts';
import { getProvider, providerNames } from './registry.ts';

/** The provider registry as the config layer sees it: names for the schema, and each provider's own checks. */
export const providerCatalog: ProviderCatalog = {
  names: providerNames,
  protocolNames: upstreamProtocolNames,
  validate: (instance) => getProvider(instance.provider).validate?.(instance) ?? [],
};
