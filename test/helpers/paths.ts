/** Where tests find things: the repo root (from dist/test/helpers) and ../shared beside the checkout. */
import { mkdtempSync } from 'node:fs';
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
