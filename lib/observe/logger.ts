import { pino } from 'pino';
import type { Logger, LevelWithSilent } from 'pino';

export type { Logger };

// Paths that may carry credentials in a log object. The gateway never logs headers or URLs with their
// query; these catch a header object or config fragment passed to the logger by mistake. Deep wildcards
// are left out on purpose: pino re-walks every logged object for each one, on every line.
const redactPaths = [
  'authorization',
  '["x-api-key"]',
  '["api-key"]',
  'key',
  'api_key',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["api-key"]',
  'auth.header',
  'auth.query',
];

const options = (level: LevelWithSilent) => ({ level, redact: { paths: redactPaths, censor: '[REDACTED]' }, base: { service: 'ai-proxy-multi' } });

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  return destination ? pino(options(level), destination as pino.DestinationStream) : pino(options(level));
}

export type LogFormat = 'json' | 'pretty';

export const isLogFormat = (value: string): value is LogFormat => value === 'json' || value === 'pretty';

/** A person watching a terminal gets readable lines; a log shipper (a pipe or file) gets JSON. */
export function defaultLogFormat(stream: { isTTY?: boolean } = process.stdout): LogFormat {
  return stream.isTTY === true ? 'pretty' : 'json';
}

/** The CLI's logger. pino-pretty is loaded only when asked for: JSON needs nothing beyond pino. */
export async function createFormattedLogger(level: LevelWithSilent, format: LogFormat, destination?: NodeJS.WritableStream): Promise<Logger> {
  if (format === 'json') return createLogger(level, destination);
  const { default: pretty } = await import('pino-pretty');
  const colorize = destination === undefined && process.stdout.isTTY === true;
  const stream = pretty({
    colorize,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
    ...(destination !== undefined && { destination }),
  });
  return pino(options(level), stream);
}

/** Remove secret values from free text (upstream error messages may echo what we sent). */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 6 && out.includes(secret)) out = out.split(secret).join('[REDACTED]');
  }
  return out.replace(/\b(sk|key|AIza)[-_A-Za-z0-9]{12,}/g, '$1-[REDACTED]');
}
