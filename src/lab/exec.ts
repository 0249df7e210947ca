/**
 * Running the lab's helper tools (ip, bridge, ethtool, ping, ...) without a shell.
 */
import { execFile, execFileSync } from 'node:child_process';

/** Result of one command: exit code (128+signal when killed), output, and why it ended. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The signal that ended it, if any (e.g. `SIGKILL` after a timeout). */
  signal?: NodeJS.Signals;
  /** True when it was killed because `timeoutMs` passed. */
  timedOut?: boolean;
}

export interface ExecOptions {
  /** Kill the command (SIGKILL) after this many milliseconds. Default: no limit. */
  timeoutMs?: number;
  /** Written to the command's stdin (stdin is closed after). */
  input?: string;
}

const SIGNUM: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

/** Run `cmd args` (no shell); never rejects for a non-zero exit, only when the command cannot start. */
export function execCommand(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 0,
        killSignal: 'SIGKILL',
        env: { ...process.env, LC_ALL: 'C' },
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: NodeJS.Signals };
        if (typeof e.code === 'string') return reject(new Error(`cannot run ${cmd}: ${e.message}`, { cause: err }));
        const signal = e.signal ?? undefined;
        const code = typeof e.code === 'number' ? e.code : 128 + (signal ? (SIGNUM[signal] ?? 0) : 0);
        const result: ExecResult = { code, stdout, stderr };
        if (signal) result.signal = signal;
        if (signal && opts.timeoutMs && e.killed) result.timedOut = true;
        resolve(result);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Error for a command that exited non-zero: names the command and carries its stderr. */
export class CommandError extends Error {
  readonly result: ExecResult;
  readonly command: string[];
  constructor(command: string[], result: ExecResult) {
    const why = result.timedOut ? 'timed out' : result.signal ? `killed by ${result.signal}` : `exited with code ${result.code}`;
    super(`\`${command.join(' ')}\` ${why}${result.stderr.trim() ? `: ${result.stderr.trim()}` : ''}`);
    this.name = 'CommandError';
    this.result = result;
    this.command = command;
  }
}

/** Run `cmd args`; resolves to stdout, rejects with {@link CommandError} on a non-zero exit. */
export async function runCommand(cmd: string, args: string[], opts: ExecOptions = {}): Promise<string> {
  const result = await execCommand(cmd, args, opts);
  if (result.code !== 0) throw new CommandError([cmd, ...args], result);
  return result.stdout;
}

/** Synchronous variant for exit handlers; returns stdout, or undefined when the command failed. */
export function runCommandSync(cmd: string, args: string[], timeoutMs = 5000): string | undefined {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
  } catch {
    return undefined;
  }
}
