/** The Docker network driver (libnetwork remote API): `macdemux docker-plugin`. See docs/docker.md. */
export { DockerDriver, devName } from './driver.ts';
export { listenPlugin, ROUTES, CALL_TIMEOUT_MS } from './server.ts';
export { parseCreateNetwork, type NetworkRecord, type Dataplane } from './network-options.ts';
export { PluginState, type EndpointRecord } from './state.ts';
