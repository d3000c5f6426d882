// The chash key of a request, with APISIX's `hash_on` / `key` semantics (apisix/balancer/chash.lua,
// fetch_chash_hash_key): a missing value falls back to the client address. The configured source is
// parsed once into a reader; a request only runs the reader.
import type { HashOn } from '../config/types.ts';
import type { RequestVars, VarReader } from './request-vars.ts';
import { cookieReader, headerReader, varReader } from './request-vars.ts';

/** What the extractor needs from a request. */
export type HashRequest = RequestVars;

/** Always returns a key: the configured source, or `remoteAddr` when that source is missing or empty. */
export type HashKeyExtractor = (req: HashRequest) => string;

export function createHashKeyExtractor(hashOn: HashOn, key: string): HashKeyExtractor {
  if (hashOn === 'vars_combinations') return combinationsExtractor(key);
  const read = readerFor(hashOn, key);
  return (req) => nonEmpty(read(req)) ?? req.remoteAddr;
}

function readerFor(hashOn: Exclude<HashOn, 'vars_combinations'>, key: string): VarReader {
  switch (hashOn) {
    case 'vars':
      return varReader(key);
    case 'header':
      return headerReader(key);
    case 'cookie':
      return cookieReader(key);
    case 'consumer':
      return (req) => req.consumer;
  }
}

// `$remote_addr$arg_user` or `${host}-x`: each variable expanded, unknown or missing ones to "".
// Like APISIX, when no variable resolved at all the key falls back to remote_addr.
function combinationsExtractor(template: string): HashKeyExtractor {
  const literals: string[] = [];
  const readers: VarReader[] = [];
  const pattern = /(?<!\\)\$\{?(\w+)\}?/g;
  let last = 0;
  for (const m of template.matchAll(pattern)) {
    literals.push(template.slice(last, m.index));
    readers.push(varReader(m[1] as string));
    last = m.index + m[0].length;
  }
  const tail = template.slice(last);
  const count = readers.length;
  return (req) => {
    let resolved = 0;
    let out = '';
    for (let i = 0; i < count; i++) {
      out += literals[i] as string;
      const v = nonEmpty((readers[i] as VarReader)(req));
      if (v !== undefined) {
        resolved++;
        out += v;
      }
    }
    return resolved === 0 ? req.remoteAddr : out + tail;
  };
}

// An empty value would pin every such client to one member; treat it as missing instead.
function nonEmpty(v: string | undefined): string | undefined {
  return v === '' ? undefined : v;
}
