import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { anchorsOf, checkCitations, readRepoSources, repoReader, slugify } from '../support/doc-citations.ts';
import type { ReadFile } from '../support/doc-citations.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// This spec and its checker hold deliberately broken samples; everything else is scanned.
const self = new Set(['spec/docs/citations.spec.ts', 'spec/support/doc-citations.ts']);

const doc = [
  '# Wire protocols',
  '## SSE framing',
  '## Anthropic Messages',
  '### Anthropic Messages stream',
  '```',
  '## Not a heading (inside a fence)',
  '```',
  '### Retry-After and `rate-limit` headers',
  '## Usage',
  '## Usage',
].join('\n');

function readerOf(files: Record<string, string>): ReadFile {
  return (path) => files[path];
}

function check(source: string, files: Record<string, string> = { 'docs/protocols.md': doc }) {
  return checkCitations([['lib/transport/example.ts', source]], readerOf(files));
}

describe('citations of the repository docs', () => {
  describe('slugs', () => {
    it('slugs headings as GitHub does: lower case, punctuation and code marks dropped, spaces to hyphens', () => {
      assert.equal(slugify('Anthropic Messages stream'), 'anthropic-messages-stream');
      assert.equal(slugify("One request's path"), 'one-requests-path');
      assert.equal(slugify('Retry-After and `rate-limit` headers'), 'retry-after-and-rate-limit-headers');
      assert.equal(slugify('Chat → Anthropic (requests)'), 'chat--anthropic-requests');
      assert.equal(slugify('[Providers](#providers) table'), 'providers-table');
    });

    it('numbers repeated headings and ignores headings inside code fences', () => {
      const anchors = anchorsOf(doc);
      assert.ok(anchors.has('usage') && anchors.has('usage-1'));
      assert.ok(!anchors.has('not-a-heading-inside-a-fence'));
      assert.ok(anchors.has('anthropic-messages-stream'));
    });
  });

  describe('the checker', () => {
    it('accepts a citation whose anchor is a heading of the cited doc', () => {
      const report = check('// SSE as in docs/protocols.md#sse-framing and docs/protocols.md#anthropic-messages-stream');
      assert.deepEqual(report.problems, []);
      assert.equal(report.checked, 2);
    });

    it('reports an anchor the cited doc does not have, with the citing line', () => {
      const report = check('// one\n// see docs/protocols.md#anthropic-messages-streaming\n');
      assert.deepEqual(report.problems, [
        {
          where: 'lib/transport/example.ts:2',
          cited: 'docs/protocols.md#anthropic-messages-streaming',
          problem: 'docs/protocols.md has no heading with the anchor #anthropic-messages-streaming',
        },
      ]);
    });

    it('reports a citation of a doc that is not in the repository', () => {
      const report = check('// see docs/architecture.md#layers');
      assert.equal(report.problems.length, 1);
      assert.equal(report.problems[0]?.problem, 'is not a file in the repository');
    });

    it('reports the design notes that live outside the repository, however they are named', () => {
      const report = check(
        [
          '// design.md 3.2 step 4',
          '// protocols.md section 6',
          '// ../shared/protocols.md',
          '// /work/shared/design.md',
          '// the notes in ../shared/ say so',
        ].join('\n'),
      );
      const lines = new Set(report.problems.map((p) => p.where));
      for (let line = 1; line <= 5; line++) assert.ok(lines.has(`lib/transport/example.ts:${line}`), `line ${line} not reported`);
    });

    it('resolves a markdown link relative to the doc that holds it, and checks in-page anchors', () => {
      const architecture = '# Architecture\n## Layers\nSee [SSE](protocols.md#sse-framing), [layers](#layers), [README](../README.md).\n';
      const files = { 'docs/protocols.md': doc, 'docs/architecture.md': architecture, 'README.md': '# x\n' };
      const good = checkCitations([['docs/architecture.md', architecture]], readerOf(files));
      assert.deepEqual(good.problems, []);
      assert.equal(good.checked, 3);
      const broken = `${architecture}And [x](#no-such-section), [y](protocols.md#layers).\n`;
      const bad = checkCitations([['docs/architecture.md', broken]], readerOf({ ...files, 'docs/architecture.md': broken }));
      assert.deepEqual(bad.problems.map((p) => p.cited), ['protocols.md#layers', '#no-such-section']);
    });

    it('leaves URLs and dependencies’ own docs alone', () => {
      const report = check('// https://github.com/openai/openai-node/blob/master/README.md and node_modules/undici/README.md');
      assert.deepEqual(report.problems, []);
    });
  });

  describe('the repository', () => {
    const sources = readRepoSources(root, ['lib', 'bin', 'spec', 'bench', 'docs'], ['README.md'], ['.ts', '.js', '.md'], self);

    it('has every cited doc and anchor, and cites nothing outside itself', () => {
      const report = checkCitations(sources, repoReader(root));
      const lines = report.problems.map((p) => `${p.where}: ${p.cited} ${p.problem}`);
      assert.deepEqual(lines, []);
      // The code cites the docs in dozens of places: a scan that finds none has stopped looking.
      assert.ok(report.checked > 50, `only ${report.checked} citations found`);
    });

    it('cites docs/protocols.md and docs/architecture.md from the code', () => {
      const code = sources.filter(([path]) => path.startsWith('lib/')).map(([, text]) => text).join('\n');
      assert.match(code, /docs\/protocols\.md#[a-z]/);
      assert.match(code, /docs\/architecture\.md#[a-z]/);
    });
  });
});
