// Checks the markdown files the code cites: every `*.md` a source names must be a file inside the
// repository (the project's design notes outside it are not something a reader of the code can open),
// and every `#anchor` after it must be a heading of that file, slugged the way GitHub renders it.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { posix } from 'node:path';

export interface CitationProblem {
  /** `path:line` of the citing text. */
  where: string;
  cited: string;
  problem: string;
}

export interface CitationReport {
  problems: CitationProblem[];
  /** Citations looked at, so a scan that silently finds nothing can be noticed. */
  checked: number;
}

/** What the checker may read: a repository-relative path → its text, or undefined when it is no file. */
export type ReadFile = (path: string) => string | undefined;

// A path-like token ending in `.md`, with an optional anchor: `docs/protocols.md#sse-framing`,
// `../shared/design.md`, `/work/shared/protocols.md`, `README.md`.
const MD_REFERENCE = /(?<![\w.@/-])(\/?(?:\.{1,2}\/)*(?:[\w.-]+\/)*[\w-][\w.-]*\.md)(?![\w-])(#[\w-]*)?/g;
// Intra-document links in markdown: `[text](#anchor)`.
const LOCAL_ANCHOR = /\]\((#[^)\s]*)\)/g;
// URLs name files on other sites: not ours to check.
const URL = /\b[a-z][a-z0-9+.-]*:\/\/\S+/gi;

/** GitHub's heading slug (github-slugger): lower case, punctuation and symbols removed, spaces → `-`. */
export function slugify(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text, not its URL
    .replace(/<[^>]+>/g, '');
  return text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The anchors a markdown file offers: its headings' slugs (`-1`, `-2`… for repeats) and explicit ids. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | undefined;
  for (const line of markdown.split(/\r?\n/)) {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker !== undefined) {
      if (fence === undefined) fence = marker[0];
      else if (marker[0] === fence) fence = undefined;
      continue;
    }
    if (fence !== undefined) continue;
    const heading = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const base = slugify(heading);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) if (m[1]) anchors.add(m[1]);
  }
  return anchors;
}

/** Repository-relative target of `cited` as written in `from`, or undefined when it leaves the repository. */
function resolve(from: string, cited: string, read: ReadFile): string | undefined {
  if (cited.startsWith('/')) return undefined;
  const candidates = [posix.normalize(posix.join(posix.dirname(from), cited)), posix.normalize(cited)];
  const inside = candidates.filter((p) => !p.startsWith('../') && p !== '..');
  return inside.find((p) => read(p) !== undefined) ?? (inside.length > 0 ? inside[0] : undefined);
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

export function checkCitations(input: Iterable<readonly [string, string]>, read: ReadFile): CitationReport {
  const sources = [...input];
  const problems: CitationProblem[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchors = (path: string, text: string): Set<string> => {
    let set = anchorCache.get(path);
    if (!set) anchorCache.set(path, (set = anchorsOf(text)));
    return set;
  };
  let checked = 0;
  for (const [path, original] of sources) {
    // Blank out URLs, keeping offsets, so line numbers stay right.
    const text = original.replace(URL, (url) => ' '.repeat(url.length));
    const report = (index: number, cited: string, problem: string): void => {
      problems.push({ where: `${path}:${lineOf(text, index)}`, cited, problem });
    };
    for (const m of text.matchAll(MD_REFERENCE)) {
      const file = m[1] ?? '';
      // A dependency's own documentation, e.g. node_modules/autocannon/README.md.
      if (file.startsWith('node_modules/')) continue;
      checked++;
      const cited = file + (m[2] ?? '');
      const target = resolve(path, file, read);
      const targetText = target === undefined ? undefined : read(target);
      if (target === undefined || targetText === undefined) {
        report(m.index, cited, 'is not a file in the repository');
        continue;
      }
      const anchor = m[2]?.slice(1);
      if (anchor && !anchors(target, targetText).has(anchor)) report(m.index, cited, `${target} has no heading with the anchor #${anchor}`);
    }
    if (!path.endsWith('.md')) continue;
    for (const m of text.matchAll(LOCAL_ANCHOR)) {
      const anchor = (m[1] ?? '#').slice(1);
      checked++;
      if (anchor && !anchors(path, original).has(anchor)) report(m.index, m[1] ?? '', `${path} has no heading with the anchor #${anchor}`);
    }
  }
  // Design notes kept beside the repository, cited by path without `.md`, are just as unreachable.
  for (const [path, text] of sources) {
    for (const m of text.matchAll(/(?:\.\.\/)+shared\/|\/work\/shared\b/g)) {
      problems.push({ where: `${path}:${lineOf(text, m.index)}`, cited: m[0], problem: 'points outside the repository' });
    }
  }
  return { problems, checked };
}

/** Repository files under `dirs` (and the top-level `files`) with one of `extensions`, as [path, text]. */
export function readRepoSources(
  root: string,
  dirs: readonly string[],
  files: readonly string[],
  extensions: readonly string[],
  skip: ReadonlySet<string>,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(posix.join(root, dir)).sort()) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const rel = posix.join(dir, name);
      if (statSync(posix.join(root, rel)).isDirectory()) walk(rel);
      else if (extensions.some((e) => name.endsWith(e)) && !skip.has(rel)) out.push([rel, readFileSync(posix.join(root, rel), 'utf8')]);
    }
  };
  for (const dir of dirs) if (existsSync(posix.join(root, dir))) walk(dir);
  for (const file of files) if (existsSync(posix.join(root, file))) out.push([file, readFileSync(posix.join(root, file), 'utf8')]);
  return out;
}

/** A ReadFile over the working tree that never reads outside `root`. */
export function repoReader(root: string): ReadFile {
  return (path) => {
    if (path.startsWith('/') || path.split('/').includes('..')) return undefined;
    const full = posix.join(root, path);
    try {
      return statSync(full).isFile() ? readFileSync(full, 'utf8') : undefined;
    } catch {
      return undefined;
    }
  };
}
