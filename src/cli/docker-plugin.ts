/**
 * `macdemux docker-plugin`: run the Docker network driver `macdemux` in the foreground, until
 * SIGINT/SIGTERM. Start it in dockerd's network and mount namespaces (see docs/docker.md).
 */
import { parseArgs, UsageError } from '../service/args.ts';
import { DockerDriver, listenPlugin } from '../plugins/docker/index.ts';

const USAGE = `usage: macdemux docker-plugin [--socket PATH] [--state-dir DIR]

  Serves Docker's remote network driver API for \`docker network create -d macdemux\`.
  --socket     default /run/docker/plugins/macdemux.sock (dockerd finds it there by name)
  --state-dir  networks and endpoints, kept across restarts; default /var/lib/macdemux/docker
`;

export async function run(argv: string[]): Promise<number> {
  const { opts, positional } = parseArgs(argv, { values: ['socket', 'state-dir'], flags: [], usage: USAGE });
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positional.length) throw new UsageError(`unexpected argument ${positional[0]}`, USAGE);
  const socket = (opts.socket as string | undefined) ?? '/run/docker/plugins/macdemux.sock';
  const stateDir = (opts['state-dir'] as string | undefined) ?? '/var/lib/macdemux/docker';
  const driver = await DockerDriver.open(stateDir);
  const server = await listenPlugin(driver, socket);
  process.stderr.write(`macdemux docker-plugin: listening on ${socket} (state in ${stateDir})\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await driver.close();
  return 0;
}
