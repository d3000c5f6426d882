import { GatewayError } from '../errors.ts';

// The client's path reaches the provider host with the instance's credentials (passthrough), so a
// path that could climb out of the route's prefix, end a header line, or be read one way here and
// another way upstream is refused, never repaired. Checked before route matching.

export interface RequestTarget {
  /** The path as the client sent it (still percent-encoded). */
  path: string;
  /** The query without its `?`, or '' when there is none. */
  query: string;
}

/** Rounds of percent-decoding checked: `%252e%252e` is `..` to a proxy that decodes twice. */
const DECODE_ROUNDS = 3;
const MALFORMED_ESCAPE = /%(?![0-9a-fA-F]{2})/;
const ESCAPE = /%([0-9a-fA-F]{2})/g;
// NUL, CR and LF, raw or escaped, could cut a header line or a C string upstream.
const CONTROL = /[\0\r\n]/;
const ESCAPED_CONTROL = /%0[0ad]/i;

function refuse(why: string): GatewayError {
  return new GatewayError('INVALID_PATH', 400, `invalid request path: ${why}`);
}

/** Byte-wise decoding: only ASCII matters to the checks, and it never throws on non-UTF-8 escapes. */
function percentDecode(text: string): string {
  return text.replace(ESCAPE, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** `.` and `..`, also with a `;params` tail that some servers strip before resolving (`..;/`). */
function isDotSegment(segment: string): boolean {
  const bare = segment.split(';', 1)[0];
  return bare === '.' || bare === '..';
}

// Only these characters can make a path unsafe; most paths have none and need no further look.
const SUSPECT = /[%.\\\0\r\n]/;

function checkPath(path: string): void {
  if (!SUSPECT.test(path)) return;
  let current = path;
  for (let round = 0; round < DECODE_ROUNDS; round++) {
    if (CONTROL.test(current)) throw refuse('it contains NUL, CR or LF');
    if (current.includes('\\')) throw refuse('it contains a backslash');
    if (current.split('/').some(isDotSegment)) throw refuse('it contains a "." or ".." segment');
    if (round === 0 && MALFORMED_ESCAPE.test(current)) throw refuse('it contains a malformed percent-escape');
    const decoded = percentDecode(current);
    if (decoded === current) return;
    current = decoded;
  }
  throw refuse('it is percent-encoded too many times over');
}

/** Splits and checks the request target (`/path?query`); throws a 400 GatewayError when refused. */
export function guardRequestTarget(url: string): RequestTarget {
  if (!url.startsWith('/')) throw refuse('the request target must be a path starting with "/"');
  // `new URL('//host/x', origin)` names another host.
  if (url.startsWith('//')) throw refuse('it starts with "//"');
  if (url.includes('#')) throw refuse('it contains a fragment ("#")');
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  checkPath(path);
  if (CONTROL.test(query) || ESCAPED_CONTROL.test(query)) throw refuse('its query contains NUL, CR or LF');
  return { path, query };
}
