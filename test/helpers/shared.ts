/**
 * Tests that need ../shared (real data, teachers) or Debian's PyTorch: without them they are skipped
 * visibly (a line on stderr, and "skipped" in ava's summary), except under CI=true, where a missing
 * requirement fails the run instead of hiding it.
 */
import test, { type TestFn } from 'ava';
import { existsSync } from 'node:fs';
import { findPython } from '../../models/python.js';
import { SHARED } from './paths.js';

function missing(what: string | undefined, title: string): TestFn {
  if (what === undefined || process.env.CI === 'true') return test;
  process.stderr.write(`skipping "${title}" tests: ${what}\n`);
  return test.skip as unknown as TestFn;
}

function pythonProblem(): string | undefined {
  try {
    findPython();
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/** `test`, or `test.skip` when ../shared is missing (never under CI=true). */
export function sharedTest(title: string): TestFn {
  return missing(existsSync(SHARED) ? undefined : `${SHARED} is missing (set DDPS_SHARED)`, title);
}

/** `test`, or `test.skip` when ../shared or a Python with torch is missing (never under CI=true). */
export function pythonTest(title: string): TestFn {
  return missing(existsSync(SHARED) ? pythonProblem() : `${SHARED} is missing (set DDPS_SHARED)`, title);
}
