import type { InstanceConfig } from './types.ts';

/**
 * What the config layer needs to know of providers, handed to it by the caller (lib/load-config.ts):
 * the config layer never imports the provider registry, so loading or printing the schema does not
 * load the HTTP, AWS and Google libraries the providers use.
 */
export interface ProviderCatalog {
  /** Every provider name, for the schema's enum. */
  names: readonly string[];
  /** Every upstream protocol name: the keys `override.request_body` may be keyed by. */
  protocolNames?: readonly string[];
  /** A provider's own checks of a normalised instance: [path relative to the instance, message]. */
  validate(instance: InstanceConfig): Array<[string, string]>;
}
