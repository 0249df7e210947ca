/**
 * `macdemux route ...`: routes over rtnetlink, iproute2 words.
 *
 *   macdemux [-n NS] route add DST [via GW] [dev NAME] [src ADDR] [metric N] [table N]
 *   macdemux [-n NS] route del DST [via GW] [dev NAME] [table N]
 *   macdemux [-j] [-n NS] [-4|-6] route show [table N]
 */
import { addRoute, deleteRoute, listRoutes, type RouteInfo, type RouteSpec } from '../devices/index.ts';
import { UsageError } from '../service/args.ts';
import { routeProtocolName, routeToIpJson } from './ip-json.ts';
import { extractOptions, jsonText, type GlobalOptions } from './options.ts';
import { Words } from './words.ts';

export const ROUTE_USAGE = `usage: macdemux [-j] [-n NETNS] [-4|-6] route <command>
  route add DST|default [via GW] [dev NAME] [src ADDR] [metric N] [table N]
  route del DST|default [via GW] [dev NAME] [table N]
  route show [table N]          (IPv4 unless -6, as ip)
`;

const HINT = 'try "macdemux route help"';

/** iproute2-like one line per route. */
export function formatRoute(r: RouteInfo): string {
  const parts = [r.dst];
  if (r.via) parts.push('via', r.via);
  if (r.dev) parts.push('dev', r.dev);
  if (r.protocol !== 3) parts.push('proto', routeProtocolName(r.protocol));
  if (r.scope !== 'global') parts.push('scope', r.scope);
  if (r.prefsrc) parts.push('src', r.prefsrc);
  if (r.metric !== undefined) parts.push('metric', String(r.metric));
  parts.push(...r.flags);
  return parts.join(' ');
}

/** Entry point: `macdemux route ...`; `globals` are the options given before "route". */
export async function run(argv: string[], globals?: GlobalOptions): Promise<number> {
  const { opts: g, rest } = extractOptions(argv, HINT, globals && { ...globals });
  if (g.help) {
    process.stdout.write(ROUTE_USAGE);
    return 0;
  }
  const [sub, ...args] = rest;
  const isShow = sub === undefined || sub === 'show' || sub === 'list';
  const o = g.netns !== undefined ? { netns: g.netns } : {};
  const w = new Words(args);
  const spec: Partial<RouteSpec> = {};
  while (!w.done) {
    const k = w.next('argument');
    if (k === 'via') spec.via = w.next('via');
    else if (k === 'dev') spec.dev = w.next('dev');
    else if (k === 'src') spec.src = w.next('src');
    else if (k === 'metric' || k === 'priority') spec.metric = w.int('metric');
    else if (k === 'table') spec.table = w.int('table');
    else if (k === 'to') spec.dst = w.next('to');
    else if (spec.dst === undefined && !isShow) spec.dst = k;
    else throw new UsageError(`${sub}: unknown word "${k}"`, HINT);
  }
  switch (sub) {
    case 'add':
    case 'del':
    case 'delete': {
      if (spec.dst === undefined) throw new UsageError(`${sub}: missing DST (a prefix like 10.0.0.0/24 or "default")`, HINT);
      if (sub === 'add') await addRoute(spec as RouteSpec, o);
      else await deleteRoute(spec as RouteSpec, o);
      return 0;
    }
    case undefined:
    case 'show':
    case 'list': {
      // Like `ip route show`: IPv4 unless -6 asks for IPv6.
      const list = await listRoutes({ ...o, family: g.family ?? 'inet', ...(spec.table !== undefined ? { table: spec.table } : {}) });
      process.stdout.write(g.json ? jsonText(list.map(routeToIpJson), g) : list.map((r) => `${formatRoute(r)}\n`).join(''));
      return 0;
    }
    case 'help':
      process.stdout.write(ROUTE_USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command "${sub}"`, HINT);
  }
}
