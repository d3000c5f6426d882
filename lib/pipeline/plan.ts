import type { ClientProtocol, ErrorShape } from '../protocols/client-protocol.ts';
import type { Converter } from '../protocols/converters/converter.ts';
import { findConverter } from '../protocols/converters/registry.ts';
import { asClientProtocol, clientProtocolNames, upstreamErrorShape } from '../protocols/registry.ts';
import type { ProtocolName } from '../protocols/types.ts';
import type { UpstreamProtocol } from '../providers/define-provider.ts';
import type { InstanceTarget } from '../providers/instance-target.ts';

/** How a request of one client protocol reaches one instance; decided once per instance at config load. */
export interface Plan {
  upstream: UpstreamProtocol;
  converter: Converter | undefined;
  /** The upstream protocol's own grammar (stream classification, usage), when it is also a client protocol. */
  upstreamProtocol: ClientProtocol | undefined;
  /** How the provider shapes its error bodies. */
  upstreamErrorShape: ErrorShape | 'google';
}

function planOne(client: ProtocolName, target: InstanceTarget): Plan | undefined {
  // Native first; else the first protocol of the provider (its order of preference) we can convert to.
  const upstream: UpstreamProtocol | undefined = target.supports(client)
    ? client
    : target.protocols.find((p) => findConverter(client, p) !== undefined);
  if (upstream === undefined) return undefined;
  return {
    upstream,
    converter: upstream === client ? undefined : findConverter(client, upstream),
    upstreamProtocol: asClientProtocol(upstream),
    upstreamErrorShape: upstreamErrorShape(upstream),
  };
}

export function planAll(target: InstanceTarget): ReadonlyMap<ProtocolName, Plan> {
  const plans = new Map<ProtocolName, Plan>();
  for (const client of clientProtocolNames) {
    const plan = planOne(client, target);
    if (plan) plans.set(client, plan);
  }
  return plans;
}
