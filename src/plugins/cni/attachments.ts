/**
 * One small record per attachment (network, container id, interface) under the data dir, written at
 * ADD and removed at DEL, so GC can find attachments the runtime no longer has (their IPAM leases
 * and devices) and DEL leaves no file behind.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What ADD made. */
export interface Attachment {
  containerId: string;
  ifname: string;
  netns: string;
  master: string;
  mac: string;
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');

function dirOf(dataDir: string, network: string): string {
  return join(dataDir, safe(network));
}

function fileOf(dataDir: string, network: string, containerId: string, ifname: string): string {
  return join(dirOf(dataDir, network), `${safe(containerId)}-${safe(ifname)}.json`);
}

export function saveAttachment(dataDir: string, network: string, a: Attachment): void {
  const dir = dirOf(dataDir, network);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = fileOf(dataDir, network, a.containerId, a.ifname);
  writeFileSync(`${f}.tmp`, JSON.stringify(a));
  renameSync(`${f}.tmp`, f);
}

export function removeAttachment(dataDir: string, network: string, containerId: string, ifname: string): void {
  rmSync(fileOf(dataDir, network, containerId, ifname), { force: true });
  try {
    rmdirSync(dirOf(dataDir, network)); // only when empty
  } catch {
    /* other attachments left, or no dir */
  }
}

export function listAttachments(dataDir: string, network: string): Attachment[] {
  const dir = dirOf(dataDir, network);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Attachment[] = [];
  for (const n of names) {
    if (!n.endsWith('.json')) continue;
    try {
      out.push(JSON.parse(readFileSync(join(dir, n), 'utf8')) as Attachment);
    } catch {
      /* a torn write of a crashed ADD: GC removes it with its attachment */
    }
  }
  return out;
}
