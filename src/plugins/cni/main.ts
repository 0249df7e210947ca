/**
 * Entry of the `macdemux-cni` executable: CNI_COMMAND from the environment, the network
 * configuration on stdin, the result (or the error JSON, exit status 1) on stdout.
 */
import { readFileSync } from 'node:fs';
import { parseNetConf, readEnv, SUPPORTED_VERSIONS, versionAtLeast } from './config.ts';
import { CNI_ERR, CniError } from './errors.ts';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus } from './plugin.ts';

const LATEST = SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.length - 1]!;

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

/** Run one CNI call; returns the exit status (output already written). */
export async function main(
  env: NodeJS.ProcessEnv = process.env,
  stdin: string = readStdin(),
  write: (s: string) => unknown = (s) => process.stdout.write(s),
): Promise<number> {
  const command = env.CNI_COMMAND ?? '';
  let version = LATEST;
  try {
    if (command === 'VERSION') {
      // VERSION reads only cniVersion (any value: the runtime asks which versions we speak).
      let asked: unknown;
      try {
        asked = (JSON.parse(stdin || '{}') as { cniVersion?: unknown }).cniVersion;
      } catch {
        /* no config */
      }
      const v = typeof asked === 'string' && SUPPORTED_VERSIONS.includes(asked) ? asked : LATEST;
      write(`${JSON.stringify({ cniVersion: v, supportedVersions: SUPPORTED_VERSIONS })}\n`);
      return 0;
    }
    if (!['ADD', 'DEL', 'CHECK', 'STATUS', 'GC'].includes(command))
      throw new CniError(CNI_ERR.INVALID_ENV, `CNI_COMMAND ${JSON.stringify(command)} is not one of ADD, DEL, CHECK, VERSION, STATUS, GC`);
    const conf = parseNetConf(stdin);
    version = conf.cniVersion;
    const e = readEnv(env, command);
    if (command === 'ADD') {
      write(`${JSON.stringify(await cmdAdd(conf, e, stdin))}\n`);
    } else if (command === 'DEL') {
      await cmdDel(conf, e, stdin);
    } else if (command === 'CHECK') {
      if (!versionAtLeast(version, '0.4.0'))
        throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `CHECK needs cniVersion 0.4.0 or later, config has ${version}`);
      await cmdCheck(conf, e, stdin);
    } else if (command === 'STATUS') {
      await cmdStatus(conf, e, stdin);
    } else {
      await cmdGc(conf, e, stdin);
    }
    return 0;
  } catch (err) {
    const ce = err instanceof CniError ? err : new CniError(CNI_ERR.INTERNAL, (err as Error).message);
    write(`${JSON.stringify(ce.toJSON(version))}\n`);
    return 1;
  }
}
