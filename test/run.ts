/**
 * `npm test`'s runner: ava, leaving out the tests whose requirements are missing (test/helpers/needs.ts)
 * and saying so in one line at the end. With CI=true nothing is left out: those tests fail, and so
 * does the run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { inCi, needMark, REQUIREMENTS, SKIP_LOG, type Need } from './helpers/requirements.js';

const missing = (Object.keys(REQUIREMENTS) as Need[]).map((need) => [need, REQUIREMENTS[need]()] as const).filter((m): m is readonly [Need, string] => m[1] !== undefined);
const ci = inCi();
const dir = mkdtempSync(join(tmpdir(), 'ddps-skips-'));
const log = join(dir, 'skips.jsonl');
// ava's command line, beside its main entry point (the package exports neither it nor package.json).
const ava = join(dirname(createRequire(import.meta.url).resolve('ava')), 'cli.mjs');
const match = ci ? [] : missing.flatMap(([need]) => ['--match', `!*${needMark(need)}*`]);
const run = spawnSync(process.execPath, [ava, ...match, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, [SKIP_LOG]: log } });

let lines: string[] = [];
try {
  lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
} catch {
  // nothing was left out
}
rmSync(dir, { recursive: true, force: true });
if (lines.length > 0) {
  const per = new Map<string, number>();
  for (const l of lines) for (const n of (JSON.parse(l) as { needs: Need[] }).needs) per.set(n, (per.get(n) ?? 0) + 1);
  const why = missing.filter(([n]) => per.has(n)).map(([n, reason]) => `${per.get(n)} need ${n} (${reason})`);
  process.stdout.write(`\nddps: ${lines.length} tests skipped: ${why.join('; ')}\n`);
}
if (ci && missing.length > 0) process.stdout.write(`\nddps: CI=true and ${missing.map(([n, r]) => `${n} is missing (${r})`).join('; ')}: failed\n`);
process.exitCode = run.status ?? 1;
if (ci && missing.length > 0) process.exitCode = 1;
