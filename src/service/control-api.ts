/**
 * The daemon's control API: JSON over HTTP on a unix socket created with mode 0600 (only the
 * daemon's user, normally root, may connect). Routes:
 *   GET /status, GET /networks, GET /ports, GET /counters,
 *   POST /networks, DELETE /networks/:name, POST /endpoints, DELETE /endpoints/:name,
 *   PATCH /ports/:name {mode}, POST /reload.
 * Malformed requests get a 4xx status with `{ error: { code, message, issues? } }`.
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { log } from '../log.ts';

/** An error with an HTTP status, returned to the client as JSON. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: { path: string; reason: string }[],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** What the daemon implements behind the routes. */
export interface ControlHandlers {
  status(): Promise<unknown>;
  networks(): Promise<unknown>;
  ports(): Promise<unknown>;
  counters(): Promise<unknown>;
  createNetwork(body: unknown): Promise<unknown>;
  removeNetwork(name: string): Promise<unknown>;
  addEndpoint(body: unknown): Promise<unknown>;
  deleteEndpoint(name: string): Promise<unknown>;
  patchPort(name: string, body: unknown): Promise<unknown>;
  reload(): Promise<unknown>;
}

const MAX_BODY = 64 * 1024;
/** Deepest JSON nesting accepted (an endpoint body is 2 levels deep; deep documents exhaust the stack later). */
const MAX_DEPTH = 16;

/** The deepest nesting of arrays/objects in JSON text (strings skipped). */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** A path segment, percent-decoded; malformed encodings are the client's error (400). */
function segment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, 'malformed_path', `malformed percent-encoding in path segment ${JSON.stringify(raw)}`);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new ApiError(413, 'body_too_large', `request body over ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) throw new ApiError(400, 'empty_body', 'expected a JSON object in the request body');
  if (type && type !== 'application/json')
    throw new ApiError(415, 'unsupported_media_type', `expected content-type application/json, got ${type}`);
  if (jsonDepth(text) > MAX_DEPTH) throw new ApiError(400, 'too_deep', `request body nests deeper than ${MAX_DEPTH} levels`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, 'malformed_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

type Route = { method: string; pattern: RegExp; run: (m: RegExpExecArray, req: IncomingMessage) => Promise<[number, unknown]> };

function routes(h: ControlHandlers): Route[] {
  const ok = async (p: Promise<unknown>): Promise<[number, unknown]> => [200, await p];
  return [
    { method: 'GET', pattern: /^\/status$/, run: () => ok(h.status()) },
    { method: 'GET', pattern: /^\/networks$/, run: () => ok(h.networks()) },
    { method: 'GET', pattern: /^\/ports$/, run: () => ok(h.ports()) },
    { method: 'GET', pattern: /^\/counters$/, run: () => ok(h.counters()) },
    { method: 'POST', pattern: /^\/networks$/, run: async (_m, req) => [201, await h.createNetwork(await readJson(req))] },
    { method: 'DELETE', pattern: /^\/networks\/([^/]+)$/, run: (m) => ok(h.removeNetwork(decodeURIComponent(m[1]))) },
    { method: 'POST', pattern: /^\/endpoints$/, run: async (_m, req) => [201, await h.addEndpoint(await readJson(req))] },
    { method: 'DELETE', pattern: /^\/endpoints\/([^/]+)$/, run: (m) => ok(h.deleteEndpoint(segment(m[1]))) },
    { method: 'PATCH', pattern: /^\/ports\/([^/]+)$/, run: async (m, req) => ok(h.patchPort(segment(m[1]), await readJson(req))) },
    { method: 'POST', pattern: /^\/reload$/, run: () => ok(h.reload()) },
  ];
}

/** Dispatch one request (exported for tests without a socket). */
export async function handle(h: ControlHandlers, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const table = routes(h);
  const matching = table.filter((r) => r.pattern.test(path));
  try {
    if (!matching.length) throw new ApiError(404, 'not_found', `no route ${path} (routes: /status, /networks, /networks/NAME, /ports, /counters, /endpoints, /endpoints/NAME, /ports/NAME, /reload)`);
    const r = matching.find((x) => x.method === req.method);
    if (!r) {
      res.setHeader('allow', matching.map((x) => x.method).join(', '));
      throw new ApiError(405, 'method_not_allowed', `${req.method} is not allowed on ${path} (allowed: ${matching.map((x) => x.method).join(', ')})`);
    }
    const [status, body] = await r.run(r.pattern.exec(path)!, req);
    send(res, status, body);
  } catch (err) {
    if (err instanceof ApiError) {
      send(res, err.status, { error: { code: err.code, message: err.message, ...(err.issues ? { issues: err.issues } : {}) } });
    } else {
      log('control-api').error({ event: 'api.error', method: req.method, path, err: (err as Error).message }, `${req.method} ${path}: ${(err as Error).message}`);
      send(res, 500, { error: { code: 'internal', message: (err as Error).message } });
    }
  }
}

/**
 * Listen on a unix socket with mode 0600. A stale socket file is replaced; anything else at the
 * path (a regular file, a directory) is refused and left alone.
 */
export async function serveControl(socketPath: string, h: ControlHandlers): Promise<Server> {
  const st = await lstat(socketPath).catch(() => undefined);
  if (st && !st.isSocket()) throw new Error(`control socket path ${socketPath} exists and is not a socket: refused (it is left alone; choose another --socket)`);
  if (st) await unlink(socketPath);
  const server = createServer((req, res) => void handle(h, req, res));
  const old = process.umask(0o177); // the socket is born 0600: no window with wider permissions
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(old);
  }
  await chmod(socketPath, 0o600);
  return server;
}
