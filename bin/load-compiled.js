// Shared by the bins: import a module of the compiled package (dist/<path>), or exit with the
// command that builds it when dist/ is missing (e.g. a clone installed with --ignore-scripts).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Import dist/<path> (e.g. 'src/cli.js') relative to the package root. */
export async function loadCompiled(path) {
  const url = new URL(`../dist/${path}`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    process.stderr.write(`macdemux: ${fileURLToPath(url)} is missing: run \`npm run build\` (npm install does it)\n`);
    process.exit(1);
  }
  return import(url.href);
}
