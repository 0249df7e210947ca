/**
 * The one owner of the daemon's desired state: the config file's document, the endpoints added
 * through the control API, and the port modes changed through it. A value is immutable: every
 * change (`withRaw`, `withEndpoint`, `withoutEndpoint`, `withMode`) returns a new, validated value
 * or throws, so the daemon can apply a candidate and keep it only when the engine and the kernel
 * applied it (see Daemon.transition); a refused candidate leaves nothing behind.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { log } from '../log.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';
import { ConfigError, type MacvlanMode, type ServiceConfig, validateConfig } from './config.ts';

/** An endpoint added through the control API (the request body without `network`). */
export interface ApiEndpoint {
  network: string;
  endpoint: Record<string, unknown>;
}

/**
 * A port mode set through the control API. It holds while the network's configured mode is still
 * `base` (the mode it overrode): a config change to that network's mode wins over it.
 */
export interface ModeOverride {
  mode: MacvlanMode;
  base: MacvlanMode;
}

const API_FILE = 'api-endpoints.json';

/** Read and parse (not validate) a YAML/JSON config file; YAML errors throw ConfigError. */
export async function readConfigDocument(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) throw new ConfigError(doc.errors.map((e) => ({ path: '', reason: `YAML: ${e.message.split('\n')[0]}` })), path);
  return doc.toJS({ maxAliasCount: 100 });
}

/** Config document + API endpoints + mode overrides, and the validated config they make. */
export class DesiredConfig {
  /** The validated whole (config file's networks with the API endpoints merged in). */
  readonly config: ServiceConfig;

  private constructor(
    readonly configPath: string,
    readonly raw: unknown,
    readonly apiEndpoints: readonly ApiEndpoint[],
    readonly overrides: ReadonlyMap<string, ModeOverride>,
  ) {
    this.config = merge(raw, apiEndpoints, configPath);
  }

  /** Load the config file and the state directory's API endpoints. Throws ConfigError. */
  static async load(configPath: string, stateDir: string): Promise<DesiredConfig> {
    const saved = (await readJsonFile(join(stateDir, API_FILE))) as { endpoints?: ApiEndpoint[] } | undefined;
    return new DesiredConfig(configPath, await readConfigDocument(configPath), saved?.endpoints ?? [], new Map());
  }

  /** Persist the API endpoints (after the value was applied). */
  async save(stateDir: string): Promise<void> {
    await writeFileAtomic(join(stateDir, API_FILE), `${JSON.stringify({ version: 1, endpoints: this.apiEndpoints }, null, 2)}\n`);
  }

  /** Forget the persisted API endpoints (teardown). */
  static apiFile(stateDir: string): string {
    return join(stateDir, API_FILE);
  }

  /** A new config document (reload). Overrides whose network mode changed are dropped. */
  withRaw(raw: unknown): DesiredConfig {
    return new DesiredConfig(this.configPath, raw, this.apiEndpoints, this.overrides).pruned();
  }

  /** One more API endpoint. Throws ConfigError with paths relative to the endpoint. */
  withEndpoint(network: string, endpoint: Record<string, unknown>): DesiredConfig {
    const netIndex = this.config.networks.findIndex((n) => n.name === network);
    try {
      return new DesiredConfig(this.configPath, this.raw, [...this.apiEndpoints, { network, endpoint }], this.overrides);
    } catch (err) {
      if (!(err instanceof ConfigError) || netIndex < 0) throw err;
      const count = this.config.networks[netIndex].endpoints.length;
      const prefix = new RegExp(`^networks\\[${netIndex}\\]\\.endpoints\\[${count}\\]\\.?`);
      throw new ConfigError(err.issues.map((i) => ({ path: prefix.test(i.path) ? i.path.replace(prefix, '') || '(endpoint)' : i.path, reason: i.reason })));
    }
  }

  /** Without the API endpoint `name` (and its mode override). */
  withoutEndpoint(name: string): DesiredConfig {
    const overrides = new Map(this.overrides);
    overrides.delete(name);
    return new DesiredConfig(this.configPath, this.raw, this.apiEndpoints.filter((a) => a.endpoint.name !== name), overrides);
  }

  /** Endpoint `name` in `mode` (over its network's configured mode). */
  withMode(name: string, mode: MacvlanMode): DesiredConfig {
    const net = this.config.networks.find((n) => n.endpoints.some((e) => e.name === name) || n.hostShim && `${n.name}.shim` === name);
    if (!net) throw new Error(`internal: no endpoint ${name}`);
    const overrides = new Map(this.overrides);
    if (mode === net.mode) overrides.delete(name);
    else overrides.set(name, { mode, base: net.mode });
    return new DesiredConfig(this.configPath, this.raw, this.apiEndpoints, overrides);
  }

  /** Whether `name` was added through the API. */
  isApiEndpoint(name: string): boolean {
    return this.apiEndpoints.some((a) => a.endpoint.name === name);
  }

  /** The mode overrides that hold (endpoint or port name -> mode). */
  modeOverrides(): Map<string, MacvlanMode> {
    return new Map([...this.overrides].map(([k, o]) => [k, o.mode]));
  }

  /** Drop overrides of endpoints that are gone or whose network's mode is no longer their base. */
  private pruned(): DesiredConfig {
    const overrides = new Map<string, ModeOverride>();
    for (const [name, o] of this.overrides) {
      const net = this.config.networks.find((n) => n.endpoints.some((e) => e.name === name) || `${n.name}.shim` === name);
      if (net && net.mode === o.base) overrides.set(name, o);
    }
    return overrides.size === this.overrides.size ? this : new DesiredConfig(this.configPath, this.raw, this.apiEndpoints, overrides);
  }
}

/** The raw config with the API endpoints merged in, validated. */
function merge(raw: unknown, extra: readonly ApiEndpoint[], source: string): ServiceConfig {
  const doc = structuredClone(raw) as { networks?: { name?: unknown; endpoints?: unknown[] }[] };
  for (const a of extra) {
    const n = Array.isArray(doc?.networks) ? doc.networks.find((x) => x && x.name === a.network) : undefined;
    if (!n) {
      // Kept in api-endpoints.json: it comes back when its network is declared again.
      log('daemon').warn({ event: 'api-endpoint.orphaned', network: a.network, endpoint: a.endpoint.name }, `API endpoint ${String(a.endpoint.name)}: network ${a.network} is no longer declared; ignored`);
      continue;
    }
    n.endpoints = [...(Array.isArray(n.endpoints) ? n.endpoints : []), a.endpoint];
  }
  return validateConfig(doc, source);
}
