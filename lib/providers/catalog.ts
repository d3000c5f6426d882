import type { ProviderCatalog } from '../config/catalog.ts';
import { upstreamProtocolNames } from '../protocols/registry.ts';
import { getProvider, providerNames } from './registry.ts';

/** The provider registry as the config layer sees it: names for the schema, and each provider's own checks. */
export const providerCatalog: ProviderCatalog = {
  names: providerNames,
  protocolNames: upstreamProtocolNames,
  validate: (instance) => {
    const provider = getProvider(instance.provider);
    const problems = provider.validate?.(instance) ?? [];
    if (instance.provider_conf.api === 'native' && !provider.nativeApi) {
      problems.push(['provider_conf/api', `"native" is only for providers gemini and vertex-ai; ${provider.name} has no other API to choose`]);
    }
    return problems;
  },
};
