/**
 * Optional parts of macdemux that the demo and the benchmark use when they are present: the native
 * packet I/O (generator, sink: src/io) and the demux engine (Switch: src/dataplane). They are loaded
 * lazily so that a build without one of them still runs the kernel baselines and reports the missing
 * part as "skipped: <reason>" instead of failing or faking numbers.
 *
 * Their types come from the modules themselves (type-only imports).
 */
import { pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { MODULE_EXT } from '../package-info.ts';

const srcDir = join(dirname(fileURLToPath(import.meta.url)), '..');

// The contracts are the real modules' types: type-only imports load nothing at run time.
import type { startGenerator, openSink } from '../io/index.ts';
import type { Switch } from '../dataplane/index.ts';

/** The parts of src/io this package uses. */
export interface IoModule {
  startGenerator: typeof startGenerator;
  openSink: typeof openSink;
}
/** The parts of src/dataplane this package uses. */
export interface DataplaneModule {
  Switch: typeof Switch;
}

/** A loaded optional module, or the reason it is not available. */
export type Optional<T> = { ok: true; mod: T } | { ok: false; reason: string };

const cache = new Map<string, Optional<unknown>>();

async function loadOptional<T>(rel: string, check: (m: Record<string, unknown>) => string | null): Promise<Optional<T>> {
  const hit = cache.get(rel);
  if (hit) return hit as Optional<T>;
  const file = join(srcDir, rel.replace(/\.ts$/, MODULE_EXT));
  let result: Optional<T>;
  if (!existsSync(file)) {
    result = { ok: false, reason: `src/${rel} is missing (${file})` };
  } else {
    try {
      const m = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      const missing = check(m);
      result = missing ? { ok: false, reason: `src/${rel}: ${missing}` } : { ok: true, mod: m as T };
    } catch (err) {
      result = { ok: false, reason: `src/${rel} failed to load: ${(err as Error).message.split('\n')[0]}` };
    }
  }
  cache.set(rel, result);
  return result;
}

/** The native packet I/O module (generator and sink), or why it is unavailable. */
export function loadIo(): Promise<Optional<IoModule>> {
  return loadOptional<IoModule>('io/index.ts', (m) => {
    const missing = ['startGenerator', 'openSink'].filter((k) => typeof m[k] !== 'function');
    return missing.length ? `does not export ${missing.join(', ')}` : null;
  });
}

/** The demux engine module (Switch), or why it is unavailable. */
export function loadDataplane(): Promise<Optional<DataplaneModule>> {
  return loadOptional<DataplaneModule>('dataplane/index.ts', (m) =>
    typeof m.Switch === 'function' ? null : 'does not export Switch',
  );
}
