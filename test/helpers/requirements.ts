/** What tests may need beyond the checkout, and how `npm test` (test/run.ts) treats it when missing: see needs.ts. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DATA, MODELS, SHARED, TINY_SD } from './paths.js';

const onPath = (name: string): boolean => spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;

/** The first browser that runs, for the report's browser test. */
export function chromium(): string | undefined {
  return [process.env.CHROMIUM, 'chromium', 'chromium-browser', 'google-chrome'].find((n): n is string => !!n && onPath(n));
}

/** Each requirement: why it is missing, or undefined when it is there. */
export const REQUIREMENTS = {
  shared: () =>
    [TINY_SD, DATA, MODELS].every((p) => existsSync(p)) ? undefined : `the data and model fixtures are not at ${SHARED} (put shared/ beside the checkout, or set DDPS_SHARED)`,
  chromium: () => (chromium() ? undefined : 'no chromium on PATH (apt-get install chromium)'),
  strace: () => (onPath('strace') ? undefined : 'no strace on PATH (apt-get install strace): the kill-anywhere test injects its kills with it'),
} satisfies Record<string, () => string | undefined>;

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

