// The config layer bound to this gateway's providers: what the CLI, the gateway's reload and the tests
// call. lib/config/ itself never imports the provider registry (see lib/config/catalog.ts).
import * as load from './config/load.ts';
import { configSchemaJson as schemaJson } from './config/schema.ts';
import type { GatewayConfig } from './config/types.ts';
import { providerCatalog } from './providers/catalog.ts';

export { parseConfigJson } from './config/load.ts';

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return load.loadConfigFile(file, providerCatalog, env);
}

export function loadConfigText(text: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return load.loadConfigText(text, providerCatalog, env);
}

export function checkConfigText(
  text: string,
  env: NodeJS.ProcessEnv = process.env,
  options: { allowMissingEnv?: boolean } = {},
): load.ConfigCheck {
  return load.checkConfigText(text, providerCatalog, env, options);
}

/** The published config/schema.json. */
export function configSchemaJson(): string {
  return schemaJson(providerCatalog.names);
}
