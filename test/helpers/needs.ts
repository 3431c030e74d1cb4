/**
 * Tests that need something a fresh clone may not have: the data and model fixtures in ../shared, a
 * browser, strace. Declare it where the test is declared:
 *
 *   needs('shared')('scores real Imagenette photos', async (t) => { ... });
 *   needs('shared', 'chromium').serial('renders in a browser', async (t) => { ... });
 *
 * When something is missing, `npm test` (test/run.ts) leaves those tests out and prints ONE line
 * saying how many and why; with CI=true a missing requirement fails each of those tests instead. Run
 * directly with ava, they show as skipped. Nothing a test needs may be read at module load: only
 * inside the test (or a hook of its own).
 */
import test, { type ExecutionContext } from 'ava';
import { appendFileSync } from 'node:fs';
import { basename } from 'node:path';
import { inCi, needMark, REQUIREMENTS, SKIP_LOG, type Need } from './requirements.js';

export { chromium } from './requirements.js';

const cache = new Map<Need, string | undefined>();
function missing(need: Need): string | undefined {
  if (!cache.has(need)) cache.set(need, REQUIREMENTS[need]());
  return cache.get(need);
}

type Impl = (t: ExecutionContext) => void | PromiseLike<void>;

export interface NeedsTest {
  (title: string, impl: Impl): void;
  serial(title: string, impl: Impl): void;
}

export function needs(...required: Need[]): NeedsTest {
  const register = (serial: boolean) => (title: string, impl: Impl) => {
    const run = serial ? test.serial : test;
    const absent = required.filter((n) => missing(n) !== undefined);
    if (absent.length === 0) return run(title, impl);
    const why = absent.map((n) => `needs ${n}: ${missing(n)}`).join('; ');
    const marked = `${title} ${absent.map(needMark).join(' ')}`;
    if (inCi()) return run(marked, (t) => t.fail(`${why} (CI=true: a missing requirement is a failure)`));
    const log = process.env[SKIP_LOG];
    if (log === undefined) return run.skip(marked, impl);
    appendFileSync(log, `${JSON.stringify({ needs: absent, file: basename(test.meta.file), title })}\n`);
    // test/run.ts excludes it by its mark; should it run anyway, it says why it cannot.
    return run(marked, (t) => t.fail(why));
  };
  return Object.assign(register(false), { serial: register(true) });
}
