/**
 * The plugin's HTTP server on a unix socket (dockerd looks in /run/docker/plugins/NAME.sock). Every
 * call is a POST with a JSON body; errors go back as HTTP 500 `{"Err": "..."}`, which dockerd shows to
 * the user. Calls run one at a time (the state file is rewritten by each) and each is bounded in
 * time: dockerd has no timeout of its own, so a hung handler would hang `docker run`. (Every
 * netlink request already gives up after 5 s, so the bound is a second line of defence; a call that
 * timed out is answered with an error while its work may still finish.)
 */
import { mkdir, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { log } from '../../log.ts';
import { withTimeout } from '../common/timeout.ts';
import type { DockerDriver } from './driver.ts';

/** Content type of the plugin protocol's replies. */
const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';
const MAX_BODY = 1024 * 1024;
/** Longest a call may take (a netlink request times out after 5 s; an engine start is < 1 s). */
export const CALL_TIMEOUT_MS = 20_000;

/** One remote API call: the driver and the request body in, the reply body out. */
export type Handler = (d: DockerDriver, body: unknown) => unknown;

/** The routes of the remote driver API (libnetwork docs/remote.md). */
export const ROUTES: Record<string, Handler> = {
  '/Plugin.Activate': () => ({ Implements: ['NetworkDriver'] }),
  '/NetworkDriver.GetCapabilities': (d) => d.getCapabilities(),
  '/NetworkDriver.CreateNetwork': (d, b) => d.createNetwork(b),
  '/NetworkDriver.DeleteNetwork': (d, b) => d.deleteNetwork(b),
  '/NetworkDriver.CreateEndpoint': (d, b) => d.createEndpoint(b),
  '/NetworkDriver.DeleteEndpoint': (d, b) => d.deleteEndpoint(b),
  '/NetworkDriver.EndpointOperInfo': (d, b) => d.endpointOperInfo(b),
  '/NetworkDriver.Join': (d, b) => d.join(b),
  '/NetworkDriver.Leave': (d, b) => d.leave(b),
  // Nothing to program: macvlan endpoints are on the parent's LAN, with no NAT or port mapping.
  '/NetworkDriver.ProgramExternalConnectivity': () => ({}),
  '/NetworkDriver.RevokeExternalConnectivity': () => ({}),
  // Node discovery and network allocation are for global-scope drivers; this one is local.
  '/NetworkDriver.DiscoverNew': () => ({}),
  '/NetworkDriver.DiscoverDelete': () => ({}),
  '/NetworkDriver.AllocateNetwork': () => ({ Options: {} }),
  '/NetworkDriver.FreeNetwork': () => ({}),
};

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new Error(`request body over ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`request body is not JSON: ${(err as Error).message}`);
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(text) }).end(text);
}

/** Listen on `socketPath` (a stale socket file is replaced); resolves once listening. */
export async function listenPlugin(
  driver: DockerDriver,
  socketPath: string,
  callTimeoutMs = CALL_TIMEOUT_MS,
  routes: Record<string, Handler> = ROUTES,
): Promise<Server> {
  const logger = log('docker-plugin');
  let queue: Promise<unknown> = Promise.resolve();
  const server = createServer((req, res) => {
    const route = routes[(req.url ?? '').split('?')[0]!];
    const started = Date.now();
    const work = async (): Promise<unknown> => {
      const body = await readBody(req);
      if (!route) throw new Error(`unknown call ${req.method} ${req.url}`);
      return withTimeout(Promise.resolve(route(driver, body)), callTimeoutMs, req.url ?? 'call');
    };
    const run = queue.then(work, work);
    queue = run.catch(() => {});
    run.then(
      (out) => {
        logger.debug({ event: 'call', call: req.url, ms: Date.now() - started }, `${req.url} ok`);
        reply(res, 200, out);
      },
      (err: Error) => {
        logger.warn({ event: 'call.failed', call: req.url, err: err.message }, `${req.url}: ${err.message}`);
        reply(res, 500, { Err: err.message });
      },
    );
  });
  await mkdir(dirname(socketPath), { recursive: true });
  await unlink(socketPath).catch(() => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
