/** Client of the daemon's control API (JSON over HTTP on a unix socket). */
import { request } from 'node:http';

/** A response: HTTP status and parsed JSON body. */
export interface ApiResponse {
  status: number;
  body: unknown;
}

/**
 * One request to the control socket, on a connection of its own; rejects on connection errors
 * (ENOENT, EACCES, ECONNREFUSED). Not through Node's global agent: it keeps connections alive, and
 * a caller that blocks its event loop between two requests longer than the server's keep-alive
 * timeout (the CNI plugin runs its IPAM plugin with spawnSync) would write the second request into
 * a connection the daemon has closed meanwhile (EPIPE).
 */
export function apiRequest(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        agent: false,
        method,
        path,
        headers: payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            /* keep text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`control API ${method} ${path}: timed out after ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const hint =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? ' (is macdemuxd running? give --socket or --state-dir)'
          : err.code === 'EACCES'
            ? ' (the socket is mode 0600: run as the daemon\'s user, normally root)'
            : '';
      reject(Object.assign(new Error(`control socket ${socketPath}: ${err.message}${hint}`), { code: err.code }));
    });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
