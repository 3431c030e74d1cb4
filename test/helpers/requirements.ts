/** What tests may need beyond the checkout, and how `npm test` (test/run.ts) treats it when missing: see needs.ts. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findChromium as chromium } from '../../scripts/chromium.js';
import { findPython } from '../../models/python.js';
import { REDIS_SERVER } from '../../scripts/redisServer.js';
import { DATA, MODELS, SHARED, TINY_SD } from './paths.js';

const onPath = (name: string): boolean => spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;

/** Each requirement: why it is missing, or undefined when it is there. */
export const REQUIREMENTS = {
  shared: () =>
    [TINY_SD, DATA, MODELS].every((p) => existsSync(p)) ? undefined : `the data and model fixtures are not at ${SHARED} (put shared/ beside the checkout, or set DDPS_SHARED)`,
  chromium: () => (chromium() ? undefined : 'no chromium on PATH (apt-get install chromium)'),
  strace: () => (onPath('strace') ? undefined : 'no strace on PATH (apt-get install strace): the kill-anywhere test injects its kills with it'),
  redis: () => (onPath(REDIS_SERVER) ? undefined : `no ${REDIS_SERVER} on PATH (apt-get install redis-server): the queue tests start a private one`),
  python: () => {
    try {
      findPython();
      return undefined;
    } catch (e) {
      return `no Python with torch >= 1.13 and torchvision (apt-get install python3-torch python3-torchvision python3-pil, or set DDPS_PYTHON): ${(e as Error).message.split('\n')[0]}`;
    }
  },
  glibc: () =>
    (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime
      ? undefined
      : 'the C library is not glibc, so GLIBC_TUNABLES (the Python children\'s allocator settings) do not apply',
} satisfies Record<string, () => string | undefined>;

export { chromium };

export type Need = keyof typeof REQUIREMENTS;

/** The title suffix by which test/run.ts leaves out the tests of a missing requirement. */
export const needMark = (need: Need): string => `[needs ${need}]`;

/** CI=true (or any value but '', 0 and false): a missing requirement is a failure. */
export function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && !['', '0', 'false'].includes(ci.toLowerCase());
}

/** Set by test/run.ts: where each left-out test is recorded, one JSON line each. */
export const SKIP_LOG = 'DDPS_SKIP_LOG';

