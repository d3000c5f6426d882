import cluster from 'node:cluster';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkConfigText, loadConfigFile } from '../lib/load-config.ts';
import type { GatewayConfig } from '../lib/config/types.ts';
import { ConfigError } from '../lib/errors.ts';
import { createGateway } from '../lib/gateway.ts';
import type { Gateway } from '../lib/gateway.ts';
import { createFormattedLogger, defaultLogFormat, isLogFormat } from '../lib/observe/logger.ts';
import type { LogFormat } from '../lib/observe/logger.ts';
import { createIdleMemoryReducer, reduceMemoryAfterStartUp } from '../lib/runtime/idle-memory.ts';
import type { IpcPort } from '../lib/state/ipc-store.ts';
import { runPrimary } from '../lib/workers/primary.ts';
import { isOurWorker, serveWorker, workerCount, workerGatewayOptions } from '../lib/workers/worker.ts';

// bin/cli.ts in a checkout, dist/bin/cli.js in an installed package: the package root holds config/.
const here = dirname(fileURLToPath(import.meta.url));
const packageDir = existsSync(resolve(here, '../package.json')) ? resolve(here, '..') : resolve(here, '../..');

const usage = `Usage: ai-proxy-multi <command> [options]

Commands:
  start    [-c|--config FILE]                   run the gateway (default: $AI_PROXY_CONFIG or config/config.json)
  validate  -c|--config FILE [--allow-missing-env]
                                                check a config file; exit 2 and list every problem with its path
                                                (--allow-missing-env: unset \${VAR}s are not errors, for CI)
  status   [-c FILE | --admin HOST:PORT] [--api-key KEY]
                                                show the instances of a running gateway (admin API)
  reload   [-c FILE | --admin HOST:PORT] [--api-key KEY]
                                                make a running gateway re-read its config file
  schema                                        print the config JSON Schema

Options:
  --log-format json|pretty                      start: log format (default: pretty on a terminal, else JSON;
                                                also $AIPM_LOG_FORMAT)

Exit codes: 0 ok, 1 runtime failure (admin unreachable, port in use, reload refused), 2 invalid config or usage.
`;

function defaultConfigPath(): string {
  if (process.env['AI_PROXY_CONFIG']) return process.env['AI_PROXY_CONFIG'];
  const local = resolve('config/config.json');
  return existsSync(local) ? local : resolve(packageDir, 'config/config.json');
}

function printProblems(err: ConfigError, file: string): void {
  process.stderr.write(`${file}: ${err.code === 'CONFIG_ENV_MISSING' ? 'missing environment variables' : 'invalid configuration'}\n`);
  for (const p of err.problems) process.stderr.write(`  ${p.path || '(root)'}: ${p.message}\n`);
}

/** Empty credentials are allowed (a local endpoint may need none) but usually a forgotten variable. */
function warnEmptyCredentials(config: GatewayConfig, warn: (msg: string) => void): void {
  for (const route of config.routes) {
    for (const instance of route.plugin.instances) {
      for (const [name, value] of Object.entries(instance.auth.header)) {
        if (value.replace(/^Bearer\s*/i, '').trim() === '') {
          warn(`route ${route.id}, instance ${instance.name}: auth.header.${name} is empty; the provider will refuse it`);
        }
      }
    }
  }
}

/** A listen error as one line with what to do about it. */
function listenFailure(err: unknown, file: string): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const where = e.port === undefined ? '' : ` ${e.address ?? ''}:${e.port}`;
  if (e.code === 'EADDRINUSE') return `cannot listen on${where}: the port is in use (stop the other process, or change server.port / admin.port in ${file})`;
  if (e.code === 'EACCES') return `cannot listen on${where}: permission denied (use a port above 1023, or change server.port / admin.port in ${file})`;
  if (e.code === 'EADDRNOTAVAIL') return `cannot listen on${where}: no such local address (change server.host / admin.host in ${file})`;
  return `cannot listen${where}: ${e.message}`;
}

async function start(file: string, format: LogFormat | undefined): Promise<number> {
  let config: GatewayConfig;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      if (err.code === 'CONFIG_READ') process.stderr.write(`ai-proxy-multi: ${err.problems[0]?.message ?? `cannot read ${file}`} (pass -c FILE or set AI_PROXY_CONFIG)\n`);
      else printProblems(err, file);
      return 2;
    }
    throw err;
  }
  const baseLog = await createFormattedLogger(config.log.level, format ?? defaultLogFormat());
  // server.workers > 1: this process runs the workers (which run this same command) and the admin listener.
  const workers = workerCount(config.server.workers, availableParallelism());
  const inWorker = isOurWorker(cluster.isWorker, process.env);
  if (cluster.isPrimary && workers > 1) {
    warnEmptyCredentials(config, (msg) => baseLog.warn(msg));
    return runPrimary({ config, workers, log: baseLog, describeListenError: (err) => listenFailure(err, file) });
  }
  if (!inWorker && workers > 1) baseLog.warn(`server.workers (${workers}) ignored: this process is a worker of another process manager's cluster`);
  const worker = inWorker ? { port: process as unknown as IpcPort, id: cluster.worker?.id } : undefined;
  const log = worker ? baseLog.child({ worker: worker.id }) : baseLog;
  if (!worker) warnEmptyCredentials(config, (msg) => log.warn(msg));
  const memory = createIdleMemoryReducer(config.server.reduce_memory_when_idle_ms, log);
  let gateway: Gateway;
  try {
    gateway = await createGateway(config, {
      logger: log,
      loadConfig: () => loadConfigFile(file),
      activity: memory,
      ...(worker ? workerGatewayOptions(config, worker.port, log) : {}),
    });
  } catch (err) {
    process.stderr.write(`ai-proxy-multi: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  // Before the listener opens, so no request waits for the collection.
  reduceMemoryAfterStartUp(log);
  try {
    await gateway.listen();
  } catch (err) {
    log.flush();
    process.stderr.write(`ai-proxy-multi: ${listenFailure(err, file)}\n`);
    await gateway.close().catch(() => undefined);
    return 1;
  }
  return new Promise<number>((resolve) => {
    // A worker's IPC channel would keep it alive once drained.
    const done = (code: number) => {
      resolve(code);
      if (worker) process.disconnect?.();
    };
    let stopping = false;
    let signalled = false;
    // A second signal means "now". A worker hears Ctrl-C on a terminal itself (the whole process group
    // gets SIGINT) and is also asked to stop by the primary, in either order: the request is not a signal.
    const stop = (reason: string, isSignal: boolean) => {
      if (isSignal && signalled) {
        log.warn(`${reason} again: exiting now`);
        process.exit(1);
      }
      if (isSignal) signalled = true;
      if (stopping) return;
      stopping = true;
      memory.stop();
      log.info(`${reason} received: draining`);
      gateway.close().then(
        () => done(0),
        (err: unknown) => {
          log.error({ err }, 'error while shutting down');
          done(1);
        },
      );
    };
    process.on('SIGHUP', () => {
      let next: GatewayConfig;
      try {
        next = loadConfigFile(file);
      } catch (err) {
        if (err instanceof ConfigError) log.warn({ problems: err.problems }, 'SIGHUP: configuration reload refused: the file is invalid');
        else log.error({ err }, 'SIGHUP: configuration reload failed');
        return;
      }
      gateway.reload(next).then(
        (result) => {
          if (!result.applied) log.warn({ problems: result.problems }, 'SIGHUP: configuration reload refused');
        },
        (err: unknown) => log.error({ err }, 'SIGHUP: configuration reload failed'),
      );
    });
    process.on('SIGTERM', () => stop('SIGTERM', true));
    process.on('SIGINT', () => stop('SIGINT', true));
    if (worker) serveWorker(gateway, worker.port, () => stop('shutdown requested by the primary', false));
  });
}

function validate(file: string, allowMissingEnv: boolean): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    process.stderr.write(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})\n`);
    return 2;
  }
  const { problems, config, missing } = checkConfigText(text, process.env, { allowMissingEnv });
  if (problems.length > 0 || !config) {
    process.stderr.write(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
    for (const p of problems) process.stderr.write(`  ${p.path || '(root)'}: ${p.message}\n`);
    return 2;
  }
  const instances = config.routes.reduce((n, r) => n + r.plugin.instances.length, 0);
  const names = [...new Set(missing.map((m) => m.name))];
  const unset = names.length > 0 ? `; ${names.length} variable${names.length === 1 ? '' : 's'} not set: ${names.join(', ')}` : '';
  process.stdout.write(`${file}: valid (${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, ${instances} instance${instances === 1 ? '' : 's'}${unset})\n`);
  return 0;
}

async function schema(): Promise<number> {
  const { configSchemaJson } = await import('../lib/load-config.ts');
  process.stdout.write(configSchemaJson());
  return 0;
}

async function adminCommand(command: 'status' | 'reload', values: CliValues): Promise<number> {
  const { adminTarget, printStatus, requestReload } = await import('./status.ts');
  const target = adminTarget({ admin: values.admin, apiKey: values['api-key'], config: values.config });
  if ('error' in target) {
    process.stderr.write(`${target.error}\n`);
    return 2;
  }
  return command === 'status' ? printStatus(target.url, target.apiKey) : requestReload(target.url, target.apiKey);
}

interface CliValues {
  config?: string;
  admin?: string;
  'api-key'?: string;
  help?: boolean;
  'allow-missing-env'?: boolean;
  'log-format'?: string;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let values: CliValues;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        admin: { type: 'string' },
        'api-key': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        'allow-missing-env': { type: 'boolean' },
        'log-format': { type: 'string' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help || command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(usage);
    return command === undefined ? 2 : 0;
  }
  switch (command) {
    case 'start': {
      const format = values['log-format'] ?? process.env['AIPM_LOG_FORMAT'];
      if (format !== undefined && !isLogFormat(format)) {
        process.stderr.write(`--log-format / AIPM_LOG_FORMAT: "${format}" is not json or pretty\n`);
        return 2;
      }
      return start(values.config ?? defaultConfigPath(), format);
    }
    case 'validate':
      if (!values.config) {
        process.stderr.write(`validate needs -c FILE\n\n${usage}`);
        return 2;
      }
      return validate(values.config, values['allow-missing-env'] === true);
    case 'status':
    case 'reload':
      return adminCommand(command, values);
    case 'schema':
      return schema();
    default:
      process.stderr.write(`unknown command ${command}\n\n${usage}`);
      return 2;
  }
}
