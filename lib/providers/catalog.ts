import type { ProviderCatalog } from '../config/catalog.ts';
import { getProvider, providerNames } from './registry.ts';

/** The provider registry as the config layer sees it: names for the schema, and each provider's own checks. */
export const providerCatalog: ProviderCatalog = {
  names: providerNames,
  validate: (instance) => getProvider(instance.provider).validate?.(instance) ?? [],
};
