/**
 * Where this package is installed and how it runs: from its TypeScript sources (tests, through tsx)
 * or compiled to dist/ (the bins). Modules that load files by path (the addon in build/Release, CLI
 * commands, charts under docs/) resolve them here so that both layouts work.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

/** Extension of this package's modules as they run: `.ts` from sources, `.js` from dist/. */
export const MODULE_EXT = extname(here);

/** The package root (the directory with package.json): src/.. or dist/src/../.. */
export const PACKAGE_ROOT = findRoot(dirname(here));

function findRoot(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) return join(dirname(here), '..');
  }
}

/** The package's version (package.json `version`). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}
