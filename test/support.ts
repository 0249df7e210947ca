/** Shared test helpers. */
import { userInfo } from 'node:os';

/** True when the tests run as root (integration tests need CAP_NET_ADMIN/CAP_NET_RAW/CAP_SYS_ADMIN). */
export const isRoot = userInfo().uid === 0;

/** Skip reason for integration tests when not root, or false when they can run. */
export const needsRoot: string | false = isRoot ? false : 'needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN)';
