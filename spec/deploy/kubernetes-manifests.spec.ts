import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { substituteEnvCollect } from '../../lib/config/env.ts';
import type { GatewayConfig } from '../../lib/config/types.ts';
import { loadConfigText } from '../../lib/load-config.ts';

// deploy/kubernetes/ must agree with the gateway it deploys: the config it mounts loads, the ports and
// probes are the config's, the grace period outlasts the drain, every secret it references exists.

const dir = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));

type Doc = Record<string, unknown>;
// Manifests are untyped YAML; the spec walks them with a tolerant accessor and asserts what it needs.
type Loose = any;

function loadManifests(): Map<string, Doc[]> {
  const files = new Map<string, Doc[]>();
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    const docs = parseAllDocuments(readFileSync(path.join(dir, name), 'utf8'));
    const parsed: Doc[] = [];
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      assert.deepEqual(doc.errors.map((e) => e.message), [], `${name} parses`);
      parsed.push(doc.toJS() as Doc);
    }
    files.set(name, parsed);
  }
  return files;
}

describe('Kubernetes manifests in deploy/kubernetes/', () => {
  const files = loadManifests();
  const objects = [...files.entries()].filter(([name]) => name !== 'kustomization.yaml').flatMap(([, docs]) => docs);
  const one = (kind: string): Loose => {
    const found = objects.filter((o) => o['kind'] === kind);
    assert.equal(found.length, 1, `one ${kind}`);
    return found[0];
  };
  const deployment = one('Deployment');
  const pod = deployment.spec.template;
  const container = pod.spec.containers[0];
  const configMap = one('ConfigMap');
  const secret = one('Secret');

  /** The environment the pod would get, with a stand-in for each value taken from the Secret. */
  const podEnv = (): Record<string, string> =>
    Object.fromEntries(
      (container.env as Loose[]).map((e) => [e.name, e.value ?? (e.valueFrom?.secretKeyRef ? `secret-${e.valueFrom.secretKeyRef.key}` : '')]),
    );
  const configFile = (): { text: string; config: GatewayConfig } => {
    const mount = (container.volumeMounts as Loose[]).find((m) => pod.spec.volumes.some((v: Loose) => v.name === m.name && v.configMap?.name === configMap.metadata.name));
    assert.ok(mount, 'the ConfigMap is mounted');
    const file = podEnv()['AI_PROXY_CONFIG'] ?? '';
    assert.equal(path.dirname(file), mount.mountPath, 'AI_PROXY_CONFIG points into the mounted ConfigMap');
    const text = configMap.data[path.basename(file)] as string | undefined;
    assert.ok(text, `the ConfigMap has ${path.basename(file)}`);
    return { text, config: loadConfigText(text, podEnv()) };
  };
  const portNumber = (port: number | string): number => {
    if (typeof port === 'number') return port;
    const named = (container.ports as Loose[]).find((p) => p.name === port);
    assert.ok(named, `container port ${port} exists`);
    return named.containerPort as number;
  };

  it('parses every file, and kustomization.yaml applies every manifest', () => {
    assert.ok(objects.length >= 5);
    for (const o of objects) assert.ok(o['apiVersion'] && o['kind'] && (o['metadata'] as Loose)?.name, `${JSON.stringify(o).slice(0, 80)} is a Kubernetes object`);
    const kustomization = files.get('kustomization.yaml')?.[0] as Loose;
    const manifests = [...files.keys()].filter((f) => f !== 'kustomization.yaml').sort();
    assert.deepEqual([...kustomization.resources].sort(), manifests);
  });

  it('mounts a config that loads with the environment the pod gets, every ${VAR} provided', () => {
    const { text } = configFile();
    assert.deepEqual(substituteEnvCollect(JSON.parse(text), podEnv()).missing, [], 'every variable without a default is set');
  });

  it('keeps secrets out of the ConfigMap: every key in the config is a ${VAR} reference filled from the Secret', () => {
    const { text } = configFile();
    const secretNames = new Set((container.env as Loose[]).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name as string));
    const headers = [...text.matchAll(/"(?:Authorization|api_key|password|x-api-key)":\s*"([^"]*)"/gi)].map((m) => m[1] ?? '');
    assert.ok(headers.length >= 3);
    for (const value of headers) {
      const names = [...value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
      assert.ok(names.length === 1 && secretNames.has(names[0] ?? ''), `"${value}" comes from the Secret`);
    }
    for (const e of container.env as Loose[]) {
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      assert.equal(ref.name, secret.metadata.name, `${e.name} names the Secret`);
      assert.ok(ref.key in { ...secret.stringData, ...secret.data }, `the Secret has ${ref.key}`);
    }
  });

  it('exposes the config ports, probes readiness on /readyz and liveness on /healthz on the admin port', () => {
    const { config } = configFile();
    assert.ok(config.admin, 'the admin listener is on');
    assert.equal(config.server.host, '0.0.0.0', 'the data port listens on the pod IP');
    assert.equal(config.admin.host, '0.0.0.0', 'the kubelet probes the pod IP');
    assert.equal(portNumber('http'), config.server.port);
    assert.equal(portNumber('admin'), config.admin.port);
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(portNumber(container.readinessProbe.httpGet.port), config.admin.port);
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(portNumber(container.livenessProbe.httpGet.port), config.admin.port);

    const service = one('Service');
    assert.deepEqual(service.spec.ports.map((p: Loose) => portNumber(p.targetPort)), [config.server.port], 'the Service sends clients to the data port only');
  });

  it('gives the pod longer to terminate than the preStop pause plus the drain (server.shutdown_timeout_ms)', () => {
    const { config } = configFile();
    const command = container.lifecycle?.preStop?.exec?.command as string[] | undefined;
    const pauseMs = command?.[0] === 'sleep' ? Number(command[1]) * 1000 : 0;
    assert.ok(pauseMs > 0, 'a preStop pause lets endpoints drop the pod before it stops accepting');
    const graceMs = pod.spec.terminationGracePeriodSeconds * 1000;
    assert.ok(graceMs > pauseMs + config.server.shutdown_timeout_ms, `${graceMs} ms grace vs ${pauseMs} + ${config.server.shutdown_timeout_ms} ms`);
  });

  it('selects the pods with the Deployment, Service and PodDisruptionBudget, and keeps replicas through a disruption', () => {
    const labels = pod.metadata.labels as Record<string, string>;
    const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    assert.ok(matches(deployment.spec.selector.matchLabels), 'Deployment selector');
    assert.ok(matches(one('Service').spec.selector), 'Service selector');
    const pdb = one('PodDisruptionBudget');
    assert.ok(matches(pdb.spec.selector.matchLabels), 'PodDisruptionBudget selector');
    assert.ok(deployment.spec.replicas > (pdb.spec.maxUnavailable ?? 0), 'a drain never takes every replica');
  });

  it('names Redis as a dependency in the environment and does not bundle one', () => {
    const { config } = configFile();
    assert.ok(config.redis && 'url' in config.redis, 'the fleet shares state through Redis');
    assert.match(podEnv()['REDIS_URL'] ?? '', /^rediss?:\/\//);
    const images = objects.flatMap((o: Loose) => o.spec?.template?.spec?.containers ?? []).map((c: Loose) => c.image as string);
    assert.deepEqual(images.filter((i) => /redis/i.test(i)), [], 'no Redis container here');
  });
});
