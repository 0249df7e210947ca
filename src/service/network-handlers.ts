/**
 * Control API routes that add and remove whole networks (`POST /networks`, `DELETE
 * /networks/NAME`), behind `macdemux network create|rm`. The body is a network in the config
 * file's words (docs/service.md); the change goes through the daemon's desired state
 * (DesiredConfig.withNetwork / withoutNetwork) and answers only once applied, like every change.
 */
import { ConfigError } from './config.ts';
import { ApiError } from './control-api.ts';
import type { DaemonControl } from './control-handlers.ts';

/** `POST /networks`: add a network; answers its `GET /networks` entry. */
export async function createNetwork(d: DaemonControl, body: unknown, view: (name: string) => Promise<unknown>): Promise<unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || typeof (body as { name?: unknown }).name !== 'string')
    throw new ApiError(400, 'invalid_body', 'expected a network like {"name": "net30", "parent": "eth0.30", "subnet": "10.0.30.0/24"}');
  const doc = body as Record<string, unknown>;
  const name = doc.name as string;
  await d.transition(`api: create network ${name}`, (cur) => {
    if (cur.config.networks.some((n) => n.name === name)) throw new ApiError(409, 'network_exists', `a network named "${name}" already exists`);
    try {
      return cur.withNetwork(doc);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new ApiError(400, 'invalid_network', `invalid network: ${err.issues.map((i) => `${i.path}: ${i.reason}`).join('; ')}`, err.issues);
    }
  });
  return view(name);
}

/** `DELETE /networks/NAME`: remove a network added through the API, with its endpoints. */
export async function removeNetwork(d: DaemonControl, name: string): Promise<unknown> {
  await d.transition(`api: remove network ${name}`, (cur) => {
    if (!cur.isApiNetwork(name)) {
      if (cur.config.networks.some((n) => n.name === name))
        throw new ApiError(409, 'declared_in_config', `network "${name}" is declared in ${d.configPath}: remove it there and reload`);
      throw new ApiError(404, 'no_such_network', `no network "${name}"`);
    }
    return cur.withoutNetwork(name);
  });
  return { removed: name };
}
