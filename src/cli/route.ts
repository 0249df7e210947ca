/**
 * `macdemux route ...`: routes over rtnetlink, iproute2 words.
 *
 *   macdemux [-n NS] route add DST [via GW] [dev NAME] [src ADDR] [metric N] [table N]
 *   macdemux [-n NS] route del DST [via GW] [dev NAME] [table N]
 *   macdemux [-n NS] route show [-4|-6] [table N] [--json]
 */
import { addRoute, deleteRoute, listRoutes, type RouteInfo, type RouteSpec } from '../devices/index.ts';
import { InvalidArgumentError } from '../errors.ts';
import { Words, splitGlobals } from './link.ts';

export const ROUTE_USAGE = `usage: macdemux [-n NETNS] route <command>
  route add DST|default [via GW] [dev NAME] [src ADDR] [metric N] [table N]
  route del DST|default [via GW] [dev NAME] [table N]
  route show [-4|-6] [table N] [--json|-j]
`;

/** iproute2-like one line per route. */
export function formatRoute(r: RouteInfo): string {
  const parts = [r.dst];
  if (r.via) parts.push('via', r.via);
  if (r.dev) parts.push('dev', r.dev);
  if (r.protocol === 2) parts.push('proto', 'kernel');
  if (r.scope !== 'global') parts.push('scope', r.scope);
  if (r.prefsrc) parts.push('src', r.prefsrc);
  if (r.metric !== undefined) parts.push('metric', String(r.metric));
  return parts.join(' ');
}

/** Entry point: `macdemux route ...`. */
export async function run(argv: string[]): Promise<number> {
  const { netns, json, rest } = splitGlobals(argv);
  const [sub, ...args] = rest;
  const o = netns !== undefined ? { netns } : {};
  const w = new Words(args);
  const spec: Partial<RouteSpec> = {};
  let family: 'inet' | 'inet6' | undefined;
  while (!w.done) {
    const k = w.next('argument');
    if (k === 'via') spec.via = w.next('via');
    else if (k === 'dev') spec.dev = w.next('dev');
    else if (k === 'src') spec.src = w.next('src');
    else if (k === 'metric' || k === 'priority') spec.metric = w.int('metric');
    else if (k === 'table') spec.table = w.int('table');
    else if (k === 'to') spec.dst = w.next('to');
    else if (k === '-4') family = 'inet';
    else if (k === '-6') family = 'inet6';
    else if (spec.dst === undefined && sub !== 'show' && sub !== 'list') spec.dst = k;
    else throw new InvalidArgumentError(`route ${sub}`, 'a known keyword (see "macdemux route help")', k);
  }
  switch (sub) {
    case 'add':
    case 'del':
    case 'delete': {
      if (spec.dst === undefined) throw new InvalidArgumentError('DST', 'a prefix like 10.0.0.0/24 or "default"', undefined);
      if (sub === 'add') await addRoute(spec as RouteSpec, o);
      else await deleteRoute(spec as RouteSpec, o);
      return 0;
    }
    case undefined:
    case 'show':
    case 'list': {
      const list = await listRoutes({ ...o, ...(family ? { family } : {}), ...(spec.table !== undefined ? { table: spec.table } : {}) });
      process.stdout.write(json ? `${JSON.stringify(list)}\n` : list.map((r) => `${formatRoute(r)}\n`).join(''));
      return 0;
    }
    case 'help':
    case '-h':
    case '--help':
      process.stdout.write(ROUTE_USAGE);
      return 0;
    default:
      process.stderr.write(`macdemux route: unknown command "${sub}"\n${ROUTE_USAGE}`);
      return 2;
  }
}
