import type { InstanceConfig } from '../config/types.ts';

// Upstreams sometimes echo what they were sent ("Incorrect API key provided: sk-…", a URL with
// `?key=…`). Every text that comes from an upstream passes through this one scrubber where it enters
// the gateway (error bodies, in-band stream errors, token endpoint errors), so no exit — client body,
// /status, log line — can carry a credential of any instance.

const REDACTED = '[REDACTED]';
// Shorter values are not credentials (and replacing them would mangle ordinary text).
const MIN_SECRET_LENGTH = 6;
// Key-shaped tokens an upstream may print that the gateway never sent (another key of the same account).
const KEY_SHAPED = /\b(sk|key|AIza)[-_A-Za-z0-9]{12,}/g;

/** The credential values of one instance as configured: header values and their bearer tokens, query values, AWS keys. */
export function staticSecretsOf(instance: InstanceConfig): string[] {
  const auth = instance.auth;
  const values = [...Object.values(auth.header), ...Object.values(auth.query)];
  if (auth.aws) {
    values.push(auth.aws.access_key_id, auth.aws.secret_access_key);
    if (auth.aws.session_token) values.push(auth.aws.session_token);
  }
  return values.flatMap((v) => {
    const bare = v.replace(/^(Bearer|Basic|Token)\s+/i, '');
    return bare === v ? [v] : [v, bare];
  });
}

/** How a value may appear in text an upstream wrote back: as is, JSON-escaped, or percent-encoded. */
function spellings(secret: string): string[] {
  return [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class SecretScrubber {
  #static: readonly string[];
  #dynamic: () => Iterable<string>;
  #pattern: RegExp | undefined;
  #patternKey: string | undefined;

  /** `dynamic` lists credentials that change at run time (cached OAuth tokens); read on every scrub. */
  constructor(staticSecrets: Iterable<string>, dynamic: () => Iterable<string> = () => []) {
    this.#static = [...new Set(staticSecrets)].filter((s) => s.length >= MIN_SECRET_LENGTH);
    this.#dynamic = dynamic;
  }

  scrub(text: string): string {
    if (text === '') return text;
    const pattern = this.#currentPattern();
    const out = pattern ? text.replace(pattern, REDACTED) : text;
    return out.replace(KEY_SHAPED, `$1-${REDACTED}`);
  }

  /** Same as `scrub` for an upstream body; returns the same buffer when nothing was found. */
  scrubBuffer(body: Buffer): Buffer {
    const text = body.toString('utf8');
    const clean = this.scrub(text);
    return clean === text ? body : Buffer.from(clean, 'utf8');
  }

  #currentPattern(): RegExp | undefined {
    const dynamic = [...this.#dynamic()].filter((s) => s.length >= MIN_SECRET_LENGTH);
    const key = dynamic.join('\n');
    if (key !== this.#patternKey) {
      const all = [...new Set([...this.#static, ...dynamic].flatMap(spellings))];
      // Longest first, so a bearer header value is replaced whole rather than leaving its prefix.
      all.sort((a, b) => b.length - a.length);
      this.#pattern = all.length === 0 ? undefined : new RegExp(all.map(escapeRegExp).join('|'), 'g');
      this.#patternKey = key;
    }
    return this.#pattern;
  }
}
