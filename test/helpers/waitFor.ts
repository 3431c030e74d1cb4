/**
 * Waits for a state, never for a duration: polls `check` until it holds. There is no time limit here
 * (a loaded machine is only slower); ava's test timeout ends a test whose state never comes, and the
 * message says what it was waiting for.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, everyMs = 50): Promise<void> {
  const since = Date.now();
  let last = since;
  while (!(await check())) {
    if (Date.now() - last > 60_000) {
      last = Date.now();
      process.stderr.write(`still waiting for ${what} (${Math.round((last - since) / 1000)} s)\n`);
    }
    await sleep(everyMs);
  }
}
