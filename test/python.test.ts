import test from 'ava';
import { findPython, runPython } from '../models/python.js';
import { isDdpsError } from '../core/errors.js';
import { needs } from './helpers/needs.js';

test.serial('a DDPS_PYTHON without torch is refused with install advice naming it', (t) => {
  const saved = process.env.DDPS_PYTHON;
  process.env.DDPS_PYTHON = '/nonexistent/python3';
  try {
    const err = t.throws(() => findPython());
    t.true(isDdpsError(err, 'MISSING_DEPENDENCY'));
    t.regex(err!.message, /\/nonexistent\/python3/);
    t.regex(err!.message, /apt-get install python3-torch python3-torchvision/);
  } finally {
    if (saved === undefined) delete process.env.DDPS_PYTHON;
    else process.env.DDPS_PYTHON = saved;
  }
});

needs('python').serial('runPython streams the JSON line the child prints, with the thread count set', async (t) => {
  const info = findPython();
  const events: Record<string, unknown>[] = [];
  const r = await runPython('ddps_eval', [], { threads: 2, onEvent: (e) => events.push(e) });
  t.is(events.length, 1);
  t.deepEqual(r.last, events[0]);
  t.is(r.last?.torch, info.torch);
  t.is(r.last?.threads, 2);
});

needs('python').serial('a failing module rejects with CHILD_FAILED and the end of its stderr', async (t) => {
  const err = await t.throwsAsync(runPython('ddps_eval.no_such_module', []));
  t.true(isDdpsError(err, 'CHILD_FAILED'));
  t.regex(err!.message, /No module named ddps_eval\.no_such_module/);
});
