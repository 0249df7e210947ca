/**
 * Helpers of the service integration tests: example configs rewritten into a lab's namespaces,
 * the CLI and daemon as child processes, `ip -j` dumps for before/after comparisons.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { deleteNetns, listNetns } from '../../src/service/netns.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A fresh private temporary directory. */
export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `mdx-svc-${tag}-`));
}

/**
 * Load examples/<file>, put every namespace it names under the lab prefix (`host1` ->
 * `<prefix>-host1`), optionally patch it, write it to `dir`; returns the path.
 */
export function labConfig(file: string, prefix: string, dir: string, patch?: (doc: any) => void): string {
  const doc = parse(readFileSync(join(ROOT, 'examples', file), 'utf8'));
  const p = (ns: string) => `${prefix}-${ns}`;
  for (const n of doc.networks) {
    if (typeof n.parent === 'string' && n.parent.includes(':')) {
      const [ns, dev] = n.parent.split(':');
      n.parent = `${p(ns)}:${dev}`;
    } else if (n.parent && typeof n.parent === 'object' && n.parent.netns) n.parent.netns = p(n.parent.netns);
    for (const e of n.endpoints ?? []) if (e.netns) e.netns = p(e.netns);
  }
  patch?.(doc);
  const out = join(dir, file.replace(/\.ya?ml$/, '.lab.yaml'));
  writeFileSync(out, stringify(doc));
  return out;
}

/** Run `macdemux ARGS` to completion. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'macdemux.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, MACDEMUX_LOG_LEVEL: 'warn', ...env },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A daemon child process with its log lines (JSON, one per lifecycle event). */
export class DaemonProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, any>[] = [];
  private waiters: { pred: (l: Record<string, any>) => boolean; resolve: (l: Record<string, any>) => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [join(ROOT, 'bin', 'macdemuxd.js'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MACDEMUX_LOG_LEVEL: 'info' },
    });
    let buf = '';
    this.child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let obj: Record<string, any>;
        try {
          obj = JSON.parse(line);
        } catch {
          obj = { msg: line };
        }
        this.lines.push(obj);
        this.waiters = this.waiters.filter((w) => (w.pred(obj) ? (w.resolve(obj), false) : true));
      }
    });
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }

  /** Resolve with the first log line (past or future) matching pred; reject after timeoutMs. */
  waitFor(pred: (l: Record<string, any>) => boolean, timeoutMs = 30_000, what = 'log line', since = 0): Promise<Record<string, any>> {
    const hit = this.lines.slice(since).find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}; log:\n${this.lines.map((l) => l.msg).join('\n')}`)), timeoutMs);
      const w = { pred, resolve: (l: Record<string, any>) => (clearTimeout(t), resolve(l)) };
      this.waiters.push(w);
      this.exited.then(() => {
        if (this.waiters.includes(w)) {
          clearTimeout(t);
          reject(new Error(`daemon exited while waiting for ${what}; log:\n${this.lines.map((l) => l.msg).join('\n')}`));
        }
      });
    });
  }

  event(name: string, timeoutMs?: number, since = 0): Promise<Record<string, any>> {
    return this.waitFor((l) => l.event === name, timeoutMs, `event ${name}`, since);
  }

  /** Index of the next log line (for waits on lines after now). */
  mark(): number {
    return this.lines.length;
  }

  count(pred: (l: Record<string, any>) => boolean): number {
    return this.lines.filter(pred).length;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** `ip -j link` and `ip -j addr` of a namespace, without counters and other volatile fields. */
export function nsDump(ns: string): unknown {
  const j = (args: string[]) => JSON.parse(spawnSync('ip', ['-n', ns, '-j', ...args], { encoding: 'utf8' }).stdout || '[]');
  const strip = (o: any) => {
    const { stats64, stats, ...rest } = o;
    void stats64;
    void stats;
    return rest;
  };
  // DAD state of link-local addresses changes by itself: not ours to compare.
  const addr = j(['addr', 'show']).map((o: any) => ({ ...strip(o), addr_info: (o.addr_info ?? []).map(({ tentative, ...a }: any) => (void tentative, a)) }));
  return { link: j(['link', 'show']).map(strip), addr };
}

/** Delete every namespace named `<prefix>-*` (what a failed test may have left). */
export async function removeNamespacesWithPrefix(prefix: string): Promise<void> {
  for (const ns of listNetns()) if (ns.startsWith(`${prefix}-`)) await deleteNetns(ns).catch(() => {});
}

/** Ping from a namespace (true when a reply came). */
export function ping(ns: string, addr: string, count = 1, timeoutS = 2): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', ...(addr.includes(':') ? ['-6'] : []), '-c', String(count), '-W', String(timeoutS), addr], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * One TCP exchange: a server in `serverNs` listens on addr:port and answers with the addresses it
 * sees ("<local> <- <remote>"); a client in `clientNs` connects and returns that answer ('' when
 * the connection failed).
 */
export async function tcpExchange(serverNs: string, clientNs: string, addr: string, port = 5099): Promise<string> {
  const serve = `require('net').createServer((s) => s.end(s.localAddress + ' <- ' + s.remoteAddress)).listen(${port}, ${JSON.stringify(addr)}, () => console.log('ready'))`;
  const server = spawn('ip', ['netns', 'exec', serverNs, process.execPath, '-e', serve], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`TCP server in ${serverNs} on ${addr} exited (${code})`)));
    });
    const connect = `const s = require('net').connect(${port}, ${JSON.stringify(addr)}); let d = ''; s.on('data', (x) => (d += x)); s.on('end', () => process.stdout.write(d)); s.on('error', (e) => { console.error(e.message); process.exit(1); });`;
    const r = spawnSync('ip', ['netns', 'exec', clientNs, process.execPath, '-e', connect], { encoding: 'utf8', timeout: 10_000 });
    return r.status === 0 ? r.stdout : '';
  } finally {
    server.kill('SIGKILL');
  }
}
