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

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  const options = { level, redact: { paths: redactPaths, censor: '[REDACTED]' }, base: { service: 'ai-proxy-multi' } };
  return destination ? pino(options, destination as pino.DestinationStream) : pino(options);
}

/** Remove secret values from free text (upstream error messages may echo what we sent). */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 6 && out.includes(secret)) out = out.split(secret).join('[REDACTED]');
  }
  return out.replace(/\b(sk|key|AIza)[-_A-Za-z0-9]{12,}/g, '$1-[REDACTED]');
}
