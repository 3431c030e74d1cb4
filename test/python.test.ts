import test from 'ava';
import { spawnSync } from 'node:child_process';
import { findPython, PYTHON_MALLOC_TUNABLES, pythonEnv, runPython } from '../models/python.js';
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

test('a Python child gets the allocator tunables, the user\'s own after them, and the thread count', (t) => {
  const env = pythonEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2', PATH: '/bin' }, { threads: 3 });
  t.is(env.GLIBC_TUNABLES, `${PYTHON_MALLOC_TUNABLES}:glibc.malloc.arena_max=2`);
  t.is(env.PATH, '/bin');
  t.is(env.DDPS_THREADS, '3');
  t.is(pythonEnv({}).GLIBC_TUNABLES, PYTHON_MALLOC_TUNABLES);
});

needs('python', 'glibc')('in the child, a 64 MB block comes from the heap, not a mapping of its own (what keeps students fast)', (t) => {
  // A heap block lies below the program break; a block glibc maps for itself lies far above it.
  const probe = [
    'import ctypes',
    'c = ctypes.CDLL(None)',
    'c.sbrk.restype = c.malloc.restype = ctypes.c_void_p',
    'c.sbrk.argtypes = [ctypes.c_long]',
    'c.malloc.argtypes = [ctypes.c_size_t]',
    'p = c.malloc(64 << 20)',
    'print(int(p + (64 << 20) <= c.sbrk(0)))',
  ].join('; ');
  const run = (env: NodeJS.ProcessEnv) => spawnSync(findPython().executable, ['-c', probe], { env, encoding: 'utf8' }).stdout.trim();
  t.is(run(pythonEnv({ PATH: process.env.PATH })), '1');
  t.is(run({ PATH: process.env.PATH }), '0', 'without them glibc maps the block');
});
