/**
 * Every program that src/, bench/ and test/ spawn comes from the base image of a fresh machine or is
 * installed by scripts/ensure-system-deps.sh (its BASE and INSTALL lists: package -> programs).
 * Programs are found in the sources as literal names: the first argument of spawn/spawnSync/
 * execFile/execFileSync/exec/execSync and of the lab's helpers (Namespace.exec/run/spawn,
 * runCommand/execCommand, the service's sh), the program after `ip netns exec NS` and after
 * `taskset -c CPU`, and the commands of literal `sh -c '...'` scripts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = 'scripts/ensure-system-deps.sh';
/** The fresh machine's package list (outside the repository; checked when present). */
const BASE_LIST = join(ROOT, '..', 'shared', 'reference', 'base-image-packages.txt');

/** package -> programs of one list (`NAME='...'`) of the script. */
function scriptList(name: 'BASE' | 'INSTALL'): Map<string, string[]> {
  const text = readFileSync(join(ROOT, SCRIPT), 'utf8');
  const m = new RegExp(`^${name}='\\n([^']*)'`, 'm').exec(text);
  assert.ok(m, `${SCRIPT} has a ${name}='...' list`);
  const out = new Map<string, string[]>();
  for (const line of m[1]!.split('\n')) {
    const [pkg, ...progs] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (pkg) out.set(pkg, progs);
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((f) => {
    const p = join(dir, f);
    return statSync(join(ROOT, p)).isDirectory() ? sourceFiles(p) : /\.(ts|js)$/.test(p) ? [p] : [];
  });
}

const CALLERS = 'spawn|spawnSync|execFile|execFileSync|execSync|exec|run|execCommand|runCommand|sh';
const Q = `['"\`]`;
/** `spawn('prog', ...)` and friends: a literal first argument (a shell string for exec/execSync). */
const CALL = new RegExp(`\\b(?:${CALLERS})\\(\\s*(${Q})([^'"\`$]+)\\1`, 'g');
/**
 * Wrappers whose program is the first literal argument after their options (`-x`, `--net=...`, and
 * the value of the few options that take one) and assignments (`env VAR=value prog`):
 * `'nsenter', [`--net=...`, 'env', `A=b`, 'podman', ...]`.
 */
const VALUE_OPTS = '--propagation|-t|--target|-s|--signal|-k|--kill-after|--reuid|--regid|--groups';
const SKIP = `(?:${Q}(?:${VALUE_OPTS})${Q},\\s*${Q}[^'"\`]*${Q}|${Q}-[^'"\`]*${Q}|\`[^\`]*\`|${Q}[A-Z_][A-Z0-9_]*=[^'"\`]*${Q})`;
const WRAPPER = new RegExp(`${Q}(?:nsenter|setpriv|unshare|timeout|env)${Q},\\s*\\[?(?:\\s*${SKIP},)*\\s*(?=(${Q})([^'"\`$]+)\\1)`, 'g');
/** `'netns', 'exec', NS, 'prog'` and `'taskset', '-c', CPU, 'prog'` in argument arrays. */
const WRAPPED = new RegExp(`${Q}(?:netns${Q},\\s*${Q}exec|taskset${Q},\\s*${Q}-c)${Q},\\s*[^,\\]]+,\\s*(?=(${Q})([^'"\`$]+)\\1)`, 'g');
/** `'sh', ['-c', 'script']`. */
const SHELL = new RegExp(`${Q}(?:sh|bash)${Q},\\s*\\[\\s*${Q}-c${Q},\\s*(['"\`])((?:(?!\\1).)*)\\1`, 'g');
const SHELL_BUILTINS = new Set(['echo', 'exit', 'cd', 'true', 'false', 'kill', 'wait', 'read', 'test', '[', 'printf', 'set', 'trap', 'exec']);

/** Commands of a literal shell script (redirections dropped; `command -v X` names X). */
function shellPrograms(script: string): string[] {
  const out: string[] = [];
  for (const seg of script.replace(/\d*[<>]&?\d*(\s*\S+)?/g, ' ').split(/;|&&|\|\||\||&|\n/)) {
    const w = seg.trim().split(/\s+/);
    const prog = w[0] === 'command' && w[1] === '-v' ? w[2] : w[0];
    if (prog && !prog.startsWith('$') && !SHELL_BUILTINS.has(prog)) out.push(prog);
  }
  return out;
}

/** program -> files that run it. */
function spawnedPrograms(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const f of [...sourceFiles('src'), ...sourceFiles('bench'), ...sourceFiles('test'), ...sourceFiles('bin')]) {
    // Comments name programs in prose (`spawn('prog', ...)`): scan code only.
    const text = readFileSync(join(ROOT, f), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    const add = (p: string) => {
      const word = p.trim().split(/\s+/)[0]!;
      // Program names are lower case (or paths): skips look-alike calls such as a test's run('ADD', ...).
      if (!/^(\/[\w.+/-]+|[a-z0-9][a-z0-9._+-]*)$/.test(word)) return;
      const prog = basename(word);
      (out.get(prog) ?? out.set(prog, new Set()).get(prog)!).add(f);
    };
    for (const m of text.matchAll(CALL)) add(m[2]!);
    for (const m of text.matchAll(WRAPPED)) add(m[2]!);
    for (const m of text.matchAll(WRAPPER)) add(m[2]!);
    for (const m of text.matchAll(SHELL)) shellPrograms(m[2]!).forEach(add);
  }
  return out;
}

test('the scanner finds the programs it must (sanity: a broken scanner would pass everything)', () => {
  const found = spawnedPrograms();
  for (const p of ['ip', 'sysctl', 'ping', 'tcpdump', 'trafgen', 'ovs-vswitchd', 'iperf3']) assert.ok(found.has(p), `finds ${p}`);
  const wrapped = "execCommand('nsenter', [`--net=/run/netns/${ns}`, 'env', `A=${b}`, 'podman', '--root', dir])";
  assert.deepEqual([...wrapped.matchAll(WRAPPER)].map((m) => m[2]), ['env', 'podman']);
  const unshare = "['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script]";
  assert.deepEqual([...unshare.matchAll(WRAPPER)].map((m) => m[2]), ['sh']);
  assert.deepEqual(shellPrograms('sleep 300 >/dev/null 2>&1 & echo $!'), ['sleep']);
  assert.deepEqual(shellPrograms('command -v trafgen'), ['trafgen']);
});

test('every spawned program is in the base image or installed by scripts/ensure-system-deps.sh', () => {
  const known = new Map<string, string>();
  for (const [list, pkgs] of [['BASE', scriptList('BASE')], ['INSTALL', scriptList('INSTALL')]] as const) {
    for (const [pkg, progs] of pkgs) for (const p of progs) known.set(basename(p), `${list}: ${pkg}`);
  }
  const missing = [...spawnedPrograms()].filter(([p]) => !known.has(p));
  assert.deepEqual(
    missing.map(([p, files]) => `${p} (run by ${[...files].join(', ')})`),
    [],
    `add each program's Debian package to ${SCRIPT} (INSTALL, or BASE when the fresh machine has it)`,
  );
});

test('BASE packages are on the fresh machine, INSTALL packages are not', { skip: !existsSync(BASE_LIST) && `${BASE_LIST} not present` }, () => {
  const base = new Set(readFileSync(BASE_LIST, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')));
  for (const pkg of scriptList('BASE').keys()) assert.ok(base.has(pkg), `BASE lists ${pkg}, which a fresh machine lacks: move it to INSTALL`);
  for (const pkg of scriptList('INSTALL').keys()) assert.ok(!base.has(pkg), `INSTALL lists ${pkg}, which is in the base image: move it to BASE`);
});

test('each listed program is on PATH (or its file exists) and comes from the package the script names (dpkg -S)', () => {
  const lists = [...scriptList('BASE'), ...scriptList('INSTALL')];
  const paths: [string, string, string[]][] = [];
  for (const [pkg, progs] of lists) {
    for (const p of progs) {
      let path = p;
      if (p.startsWith('/')) {
        assert.ok(existsSync(p), `${p} (${pkg}) exists (npm test's pretest runs ${SCRIPT})`);
      } else {
        const r = spawnSync('sh', ['-c', `command -v ${p}`], { encoding: 'utf8' });
        assert.equal(r.status, 0, `${p} (${pkg}) is on PATH (npm test's pretest runs ${SCRIPT})`);
        path = r.stdout.trim();
      }
      const real = realpathSync(path);
      // merged /usr: dpkg may know /bin/x or /sbin/x only
      paths.push([p, pkg, [...new Set([real, path, real.replace(/^\/usr/, ''), path.replace(/^\/usr/, '')])]]);
    }
  }
  if (!existsSync('/var/lib/dpkg/info')) return; // not a Debian system: PATH checked above
  const owners = new Map<string, string>();
  const r = spawnSync('dpkg', ['-S', ...paths.flatMap(([, , c]) => c)], { encoding: 'utf8' });
  for (const line of r.stdout.split('\n')) {
    const m = /^(.+?): (\/.+)$/.exec(line); // "pkg[:arch][, pkg2[:arch]]: /path"
    if (m) owners.set(m[2]!, m[1]!);
  }
  for (const [p, pkg, candidates] of paths) {
    if (p === 'node' && !candidates.some((c) => owners.has(c))) continue; // node from outside Debian (nvm, nodesource tarball)
    // The link and its target may belong to different packages (clang -> clang-14): either counts.
    const found = candidates.flatMap((c) => (owners.get(c) ?? '').split(', ').filter(Boolean).map((o) => o.split(':')[0]!));
    assert.ok(found.includes(pkg), `${p} is from ${found.join(', ') || 'no package'}, the script says ${pkg}`);
  }
});
