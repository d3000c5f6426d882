// Real Redis Cluster and Sentinel set-ups for the failover specs, built from redis-server processes on free
// loopback ports (spec/support/redis-server.ts) and torn down by the spec. Timeouts are cut to the bone
// (node timeout, down-after) so that a failover takes a few seconds, not the production defaults' 15-30.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startRedis } from './redis-server.ts';
import type { RedisProcess } from './redis-server.ts';

const slots = 16384;
// Without these a replica waits 5 s before its first full sync (diskless sync delay, Redis 7).
const replicationArgs = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'];

export interface ClusterNode {
  process: RedisProcess;
  id: string;
  /** The id of the master it replicates at start-up; undefined for a master. */
  replicaOf?: string;
}

export interface RedisClusterSetup {
  /** Start-up node URLs, masters first. */
  urls: string[];
  nodes: ClusterNode[];
  /** The node that serves `key` now (asks the cluster). */
  masterFor(key: string): Promise<ClusterNode>;
  /** Starts a stopped node again on its port; it rejoins with its saved cluster config (and no data). */
  restart(node: ClusterNode): Promise<void>;
  /** SIGKILLs the master serving `key` and resolves once its replica has taken over and the cluster is ok. */
  killMasterFor(key: string, timeoutMs?: number): Promise<{ killed: ClusterNode; promoted: ClusterNode }>;
  stop(): Promise<void>;
}

/** `masters` masters with `replicas` replicas each; resolves once every node says cluster_state:ok. */
export async function startRedisCluster(opts: { masters?: number; replicas?: number } = {}): Promise<RedisClusterSetup> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 1;
  const dir = await mkdtemp(path.join(tmpdir(), 'aipm-cluster-'));
  const args = (port: number) => [
    '--cluster-enabled', 'yes',
    '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout', '1000',
    '--dir', dir,
    ...replicationArgs,
  ];
  const processes = await Promise.all(Array.from({ length: masters * (1 + replicas) }, () => startRedis({ args })));
  const clients = processes.map((p) => quiet(new Redis(p.port, '127.0.0.1')));
  const stopAll = async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(processes.map((p) => p.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const ids = await Promise.all(clients.map((c) => c.call('CLUSTER', 'MYID') as Promise<string>));
    const nodes: ClusterNode[] = processes.map((process, i) => ({ process, id: ids[i] ?? '' }));
    for (let m = 0; m < masters; m++) {
      const from = Math.floor((m * slots) / masters);
      const to = Math.floor(((m + 1) * slots) / masters) - 1;
      await clients[m]?.call('CLUSTER', 'ADDSLOTSRANGE', from, to);
      await clients[m]?.call('CLUSTER', 'SET-CONFIG-EPOCH', m + 1);
    }
    const first = processes[0] as RedisProcess;
    await Promise.all(clients.slice(1).map((c) => c.call('CLUSTER', 'MEET', '127.0.0.1', first.port)));
    await until('every node to know every other', async () => {
      const views = await Promise.all(clients.map((c) => c.call('CLUSTER', 'NODES') as Promise<string>));
      return views.every((v) => v.trim().split('\n').length === nodes.length);
    });
    for (let r = masters; r < nodes.length; r++) {
      const master = nodes[(r - masters) % masters] as ClusterNode;
      (nodes[r] as ClusterNode).replicaOf = master.id;
      await clients[r]?.call('CLUSTER', 'REPLICATE', master.id);
    }
    await until('the cluster to be ok and every replica in sync', async () => {
      const infos = await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
      if (!infos.every((i) => i.includes('cluster_state:ok'))) return false;
      const links = await Promise.all(clients.slice(masters).map((c) => c.info('replication')));
      return links.every((l) => l.includes('master_link_status:up'));
    });

    const live = () => clients.filter((_, i) => nodes[i]?.process.alive());
    const masterFor = async (key: string): Promise<ClusterNode> => {
      const slot = Number(await live()[0]?.call('CLUSTER', 'KEYSLOT', key));
      const shards = (await live()[0]?.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
      const owner = shards.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[2];
      const node = nodes.find((n) => n.id === owner);
      if (!node) throw new Error(`no master serves slot ${slot}`);
      return node;
    };
    return {
      urls: processes.map((p) => p.url),
      nodes,
      masterFor,
      async killMasterFor(key, timeoutMs = 15_000) {
        const killed = await masterFor(key);
        const promoted = nodes.find((n) => n.replicaOf === killed.id && n.process.alive());
        if (!promoted) throw new Error('the master has no live replica to promote');
        await killed.process.kill();
        const client = clients[nodes.indexOf(promoted)] as Redis;
        await until('the replica to take over', async () => {
          const [role] = (await client.call('ROLE')) as [string];
          const info = (await client.call('CLUSTER', 'INFO')) as string;
          return role === 'master' && info.includes('cluster_state:ok');
        }, timeoutMs);
        return { killed, promoted };
      },
      async restart(node) {
        const i = nodes.indexOf(node);
        node.process = await startRedis({ port: node.process.port, args });
        processes[i] = node.process;
        await until('the cluster to be ok again', async () => {
          const infos = await Promise.all(live().map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
          return infos.every((info) => info.includes('cluster_state:ok'));
        });
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

export interface RedisSentinelSetup {
  /** The master's name as the sentinels know it. */
  name: string;
  sentinels: Array<{ host: string; port: number }>;
  master: RedisProcess;
  replica: RedisProcess;
  /** The address the sentinels give for the master now. */
  currentMaster(): Promise<number>;
  /** SIGKILLs the master and resolves once the sentinels name the replica as master. */
  killMaster(timeoutMs?: number): Promise<void>;
  /**
   * A planned failover (SENTINEL FAILOVER): the replica becomes master and both stay up. Resolves once
   * the sentinels name the new master; the sentinels turn the old one into its replica ~10 s later
   * (their INFO period), and until then it still takes writes from clients that did not follow.
   */
  failover(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** One master, one replica and three sentinels (quorum 2), resolving once they all know each other. */
export async function startRedisSentinel(opts: { name?: string } = {}): Promise<RedisSentinelSetup> {
  const name = opts.name ?? 'aipm-master';
  const dir = await mkdtemp(path.join(tmpdir(), 'aipm-sentinel-'));
  // --dir: a replica writes the snapshot it receives to its working directory, whatever `save` says.
  const files = (port: number) => ['--dir', dir, '--dbfilename', `dump-${port}.rdb`];
  const master = await startRedis({ args: (port) => [...replicationArgs, ...files(port)] });
  const replica = await startRedis({ args: (port) => [...replicationArgs, ...files(port), '--replicaof', '127.0.0.1', String(master.port)] });
  const sentinels: RedisProcess[] = [];
  const clients: Redis[] = [];
  const stopAll = async () => {
    for (const c of clients) c.disconnect();
    await Promise.all([...sentinels, master, replica].map((p) => p.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const replicaClient = quiet(new Redis(replica.port, '127.0.0.1'));
    const masterClient = quiet(new Redis(master.port, '127.0.0.1'));
    clients.push(replicaClient, masterClient);
    await until('the replica to sync', async () => (await replicaClient.info('replication')).includes('master_link_status:up'));
    const config = async (port: number): Promise<string> => {
      const file = path.join(dir, `sentinel-${port}.conf`);
      await writeFile(file, [
        `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${name} 400`,
        `sentinel failover-timeout ${name} 3000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'));
      return file;
    };
    sentinels.push(...(await Promise.all([0, 1, 2].map(() => startRedis({ configFile: config, args: () => ['--sentinel'] })))));
    const sentinelClients = sentinels.map((s) => quiet(new Redis(s.port, '127.0.0.1')));
    clients.push(...sentinelClients);
    // A failover needs a majority of sentinels that know each other (hello messages every 2 s) and the replica.
    await until('the sentinels to know each other and the replica', async () => {
      const views = await Promise.all(sentinelClients.map((c) => c.call('SENTINEL', 'MASTER', name) as Promise<string[]>));
      return views.every((v) => field(v, 'num-other-sentinels') === '2' && field(v, 'num-slaves') === '1');
    }, 10_000);
    const currentMaster = async (): Promise<number> => {
      for (const [i, c] of sentinelClients.entries()) {
        if (!sentinels[i]?.alive()) continue;
        const [, port] = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
        return Number(port);
      }
      throw new Error('no sentinel is running');
    };
    return {
      name,
      sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
      master,
      replica,
      currentMaster,
      async killMaster(timeoutMs = 15_000) {
        await master.kill();
        await until('the sentinels to promote the replica', async () => {
          if ((await currentMaster()) !== replica.port) return false;
          const [role] = (await replicaClient.call('ROLE')) as [string];
          return role === 'master';
        }, timeoutMs);
      },
      async failover(timeoutMs = 15_000) {
        const before = await currentMaster();
        await sentinelClients[0]?.call('SENTINEL', 'FAILOVER', name);
        await until('the planned failover to complete', async () => {
          const now = await currentMaster();
          if (now === before) return false;
          const [role] = (await (now === replica.port ? replicaClient : masterClient).call('ROLE')) as [string];
          return role === 'master';
        }, timeoutMs);
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The spec's own clients: a killed node is expected, its connection errors are not news. */
function quiet(client: Redis): Redis {
  client.on('error', () => undefined);
  return client;
}

function field(flat: string[], name: string): string | undefined {
  const i = flat.indexOf(name);
  return i === -1 ? undefined : flat[i + 1];
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
