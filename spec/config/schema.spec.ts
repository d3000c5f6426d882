import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildConfigSchema } from '../../lib/config/schema.ts';
import { configSchemaJson } from '../../lib/load-config.ts';
import { providerNames } from '../../lib/providers/registry.ts';


const configSchema = buildConfigSchema(providerNames);

type Node = Record<string, unknown>;
const isNode = (x: unknown): x is Node => typeof x === 'object' && x !== null && !Array.isArray(x);

describe('config schema', () => {
  it('is published unchanged as config/schema.json (regenerate it from configSchemaJson() when this fails)', () => {
    const onDisk = readFileSync(new URL('../../config/schema.json', import.meta.url), 'utf8');
    assert.equal(onDisk, configSchemaJson());
  });

  it('offers exactly the registry providers, so adding a provider needs no schema edit', () => {
    const definitions = configSchema['definitions'];
    assert.ok(isNode(definitions) && isNode(definitions['instance']));
    const properties = definitions['instance']['properties'];
    assert.ok(isNode(properties) && isNode(properties['provider']));
    assert.equal(properties['provider']['$ref'], '#/definitions/provider');
    assert.ok(isNode(definitions['provider']));
    assert.deepEqual(definitions['provider']['enum'], [...providerNames]);
  });

  it('describes every field, so editors show help while typing', () => {
    const undocumented: string[] = [];
    const visit = (node: unknown, path: string): void => {
      if (Array.isArray(node)) node.forEach((child, i) => visit(child, `${path}/${i}`));
      if (!isNode(node)) return;
      const properties = node['properties'];
      if (isNode(properties)) {
        for (const [name, field] of Object.entries(properties)) {
          if (isNode(field) && typeof field['description'] !== 'string' && typeof field['$ref'] !== 'string') {
            undocumented.push(`${path}/properties/${name}`);
          }
        }
      }
      for (const [key, child] of Object.entries(node)) visit(child, `${path}/${key}`);
    };
    visit(configSchema, '#');
    assert.deepEqual(undocumented, []);
  });
});
