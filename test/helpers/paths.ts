/** Where tests find things: the repo root (from dist/test/helpers) and ../shared beside the checkout. */
import test from 'ava';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SHARED = process.env.DDPS_SHARED ?? resolve(REPO, '../shared');
export const TINY_SD = join(SHARED, 'fixtures/tiny-sd');
export const DATA = join(SHARED, 'data');
export const MODELS = join(SHARED, 'models');

export function tempDir(prefix = 'ddps-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * `test` when every path exists. Otherwise `test.skip`, so ava lists the test as skipped, with a note
 * naming what is missing; under CI=true a missing path is not a reason to skip: the test runs and fails.
 */
export function testNeeding(...paths: string[]): typeof test {
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length === 0 || process.env.CI === 'true') return test;
  console.warn(`skipping tests that need ${missing.join(', ')} (set DDPS_SHARED to the shared data folder)`);
  return test.skip as unknown as typeof test;
}
