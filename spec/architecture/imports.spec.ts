import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { providerNames } from '../../lib/providers/registry.ts';
import { upstreamProtocolNames } from '../../lib/protocols/registry.ts';

// The layering docs/architecture.md describes, checked on the code: no import cycles, each outside
// library in its one room, and a pipeline that names no protocol or provider.

const root = normalize(join(dirname(fileURLToPath(import.meta.url)), '../..'));

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

interface Import {
  specifier: string;
  typeOnly: boolean;
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/gm;

export function importsOf(source: string): Import[] {
  return [...source.matchAll(IMPORT)].map((m) => ({ specifier: m[3] ?? '', typeOnly: m[2] !== undefined }));
}

/** Every import cycle among `graph`'s files, each as the list of files around it. */
export function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'visiting');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'visiting') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return cycles;
}

const lib = sourcesUnder('lib');
const sources = new Map(lib.map((file) => [file, readFileSync(join(root, file), 'utf8')]));

function libGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const [file, source] of sources) {
    const local = importsOf(source)
      .filter((i) => i.specifier.startsWith('.'))
      .map((i) => normalize(join(dirname(file), i.specifier)));
    graph.set(file, local);
  }
  return graph;
}

/** Files of lib/ (outside `allowedIn`) that import `pkg` for its values, not only its types. */
function valueImportersOf(pkg: string, allowedIn: readonly string[]): string[] {
  return [...sources]
    .filter(([file]) => !allowedIn.some((dir) => file.startsWith(dir)))
    .filter(([, source]) => importsOf(source).some((i) => !i.typeOnly && (i.specifier === pkg || i.specifier.startsWith(`${pkg}/`))))
    .map(([file]) => file);
}

describe('the layering of lib/', () => {
  it('finds the cycle in a graph that has one, and none in a tree', () => {
    const cyclic = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
    assert.deepEqual(cyclesOf(cyclic), [['a', 'b', 'c', 'a']]);
    assert.deepEqual(cyclesOf(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), []);
    assert.deepEqual(importsOf("import type { X } from './x.ts';\nexport { y } from \"./y.ts\";\nimport z from 'z';"), [
      { specifier: './x.ts', typeOnly: true },
      { specifier: './y.ts', typeOnly: false },
      { specifier: 'z', typeOnly: false },
    ]);
  });

  it('has no import cycle anywhere, type-only imports included', () => {
    assert.ok(sources.size > 100, 'the walk found the sources');
    assert.deepEqual(cyclesOf(libGraph()).map((c) => c.join(' → ')), []);
  });

  it('keeps each outside library in its room', () => {
    assert.deepEqual(valueImportersOf('express', ['lib/http/']), [], 'only lib/http imports express');
    assert.deepEqual(valueImportersOf('undici', ['lib/transport/']), [], 'only lib/transport imports undici');
    assert.deepEqual(valueImportersOf('ioredis', ['lib/state/']), [], 'only lib/state imports ioredis');
    assert.deepEqual(valueImportersOf('opossum', ['lib/state/']), [], 'only lib/state imports opossum');
  });

  it('loads the config layer without the providers, the transport or the test tools', () => {
    const offending = [...libGraph()]
      .filter(([file]) => file.startsWith('lib/config/'))
      .flatMap(([file, deps]) => deps.filter((d) => !d.startsWith('lib/config/') && d !== 'lib/errors.ts').map((d) => `${file} → ${d}`));
    assert.deepEqual(offending, []);
    const intoTools = [...libGraph()].flatMap(([file, deps]) => deps.filter((d) => !d.startsWith('lib/')).map((d) => `${file} → ${d}`));
    assert.deepEqual(intoTools, [], 'lib/ never imports tools/ or spec/');
  });

  it('has a pipeline that names no protocol and no provider', () => {
    const names = [...new Set([...upstreamProtocolNames, ...providerNames])];
    const named = [...sources]
      .filter(([file]) => file.startsWith('lib/pipeline/'))
      .flatMap(([file, source]) => names.filter((n) => source.includes(`'${n}'`) || source.includes(`"${n}"`)).map((n) => `${file}: '${n}'`));
    assert.ok(names.includes('openai-chat') && names.includes('bedrock'), 'the registries were read');
    assert.deepEqual(named, []);
  });
});
