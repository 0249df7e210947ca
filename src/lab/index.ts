/**
 * The network lab shared by tests, the demo and the benchmarks: namespaces with a per-run prefix,
 * veth pairs, bridges, and a teardown that always runs. See docs/lab.md.
 */
export { Lab, withLab, type VethSpec, type VethEnd, type BridgeOptions, type LabOptions, type NamespaceOptions } from './lab.ts';
export { Namespace, type LinkStats, type LinkInfo, type SpawnTracker } from './namespace.ts';
export {
  cleanupStaleLabs,
  listLabNamespaces,
  listNamespaces,
  namespaceExists,
  deleteNamespace,
  isPidAlive,
  type LabNamespaceInfo,
} from './cleanup.ts';
export { execCommand, runCommand, CommandError, type ExecResult, type ExecOptions } from './exec.ts';
export {
  LAB_TAG,
  makePrefix,
  validateCidr,
  parseLabNamespace,
  staleNamespaces,
} from './names.ts';
export { destroyAllLabsSync, liveLabCount } from './teardown.ts';
