/**
 * The one owner of the daemon's desired state: the config file's document, the networks and
 * endpoints added through the control API, and the port modes changed through it. A value is immutable: every
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

/** Config document + API networks and endpoints + mode overrides, and the validated config they make. */
export class DesiredConfig {
  /** The validated whole (config file's networks with the API networks and endpoints merged in). */
  readonly config: ServiceConfig;

  private constructor(
    readonly configPath: string,
    readonly raw: unknown,
    readonly apiEndpoints: readonly ApiEndpoint[],
    readonly overrides: ReadonlyMap<string, ModeOverride>,
    /** Network documents (the config file's shape) added through the API. */
    readonly apiNetworks: readonly Record<string, unknown>[] = [],
  ) {
    this.config = merge(raw, apiNetworks, apiEndpoints, configPath);
  }

  /** Load the config file and the state directory's API networks and endpoints. Throws ConfigError. */
  static async load(configPath: string, stateDir: string): Promise<DesiredConfig> {
    const saved = (await readJsonFile(join(stateDir, API_FILE))) as { endpoints?: ApiEndpoint[]; networks?: Record<string, unknown>[] } | undefined;
    return new DesiredConfig(configPath, await readConfigDocument(configPath), saved?.endpoints ?? [], new Map(), saved?.networks ?? []);
  }

  /** Persist the API networks and endpoints (after the value was applied). */
  async save(stateDir: string): Promise<void> {
    await writeFileAtomic(join(stateDir, API_FILE), `${JSON.stringify({ version: 1, networks: this.apiNetworks, endpoints: this.apiEndpoints }, null, 2)}\n`);
  }

  /** One more network (a config-file network document). Throws ConfigError with paths relative to it. */
  withNetwork(doc: Record<string, unknown>): DesiredConfig {
    const index = this.config.networks.length;
    try {
      return new DesiredConfig(this.configPath, this.raw, this.apiEndpoints, this.overrides, [...this.apiNetworks, doc]);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const prefix = new RegExp(`^networks\\[${index}\\]\\.?`);
      throw new ConfigError(err.issues.map((i) => ({ path: prefix.test(i.path) ? i.path.replace(prefix, '') || '(network)' : i.path, reason: i.reason })));
    }
  }

  /** Without the API network `name` and its API endpoints. */
  withoutNetwork(name: string): DesiredConfig {
    const gone = new Set(this.apiEndpoints.filter((a) => a.network === name).map((a) => String(a.endpoint.name)));
    const overrides = new Map([...this.overrides].filter(([k]) => !gone.has(k)));
    return new DesiredConfig(this.configPath, this.raw, this.apiEndpoints.filter((a) => a.network !== name), overrides, this.apiNetworks.filter((n) => n.name !== name));
  }

  /** Whether network `name` was added through the API. */
  isApiNetwork(name: string): boolean {
    return this.apiNetworks.some((n) => n.name === name);
  }

  /** Forget the persisted API endpoints (teardown). */
  static apiFile(stateDir: string): string {
    return join(stateDir, API_FILE);
  }

  /** A new config document (reload). Overrides whose network mode changed are dropped. */
  withRaw(raw: unknown): DesiredConfig {
    return new DesiredConfig(this.configPath, raw, this.apiEndpoints, this.overrides, this.apiNetworks).pruned();
  }

  /** One more API endpoint. Throws ConfigError with paths relative to the endpoint. */
  withEndpoint(network: string, endpoint: Record<string, unknown>): DesiredConfig {
    const netIndex = this.config.networks.findIndex((n) => n.name === network);
    try {
      return new DesiredConfig(this.configPath, this.raw, [...this.apiEndpoints, { network, endpoint }], this.overrides, this.apiNetworks);
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
    return new DesiredConfig(this.configPath, this.raw, this.apiEndpoints.filter((a) => a.endpoint.name !== name), overrides, this.apiNetworks);
  }

  /** Endpoint `name` in `mode` (over its network's configured mode). */
  withMode(name: string, mode: MacvlanMode): DesiredConfig {
    const net = this.config.networks.find((n) => n.endpoints.some((e) => e.name === name) || n.hostShim && `${n.name}.shim` === name);
    if (!net) throw new Error(`internal: no endpoint ${name}`);
    const overrides = new Map(this.overrides);
    if (mode === net.mode) overrides.delete(name);
    else overrides.set(name, { mode, base: net.mode });
    return new DesiredConfig(this.configPath, this.raw, this.apiEndpoints, overrides, this.apiNetworks);
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
    return overrides.size === this.overrides.size ? this : new DesiredConfig(this.configPath, this.raw, this.apiEndpoints, overrides, this.apiNetworks);
  }
}

/** The raw config with the API networks and endpoints merged in, validated. */
function merge(raw: unknown, networks: readonly Record<string, unknown>[], extra: readonly ApiEndpoint[], source: string): ServiceConfig {
  const doc = structuredClone(raw) as { networks?: { name?: unknown; endpoints?: unknown[] }[] };
  if (networks.length && doc && typeof doc === 'object') doc.networks = [...(Array.isArray(doc.networks) ? doc.networks : []), ...structuredClone(networks)];
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
