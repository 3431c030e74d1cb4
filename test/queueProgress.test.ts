import test from 'ava';
import { queueProgressLine } from '../cli/queueOutput.js';
import { rateAndEta, runFraction, type RunProgress } from '../queue/index.js';

test('run fraction: finished shards plus the read share of those being scored', (t) => {
  t.is(runFraction(10, 3, [0.5, 0.25]), 0.375);
  t.is(runFraction(4, 4, []), 1);
  t.is(runFraction(0, 0, []), 1);
  // A worker's fraction is clamped: bytes read can run past a size that was small.
  t.is(runFraction(2, 0, [1.7, -0.2]), 0.5);
});

test('rate and ETA count only what moved since this submitter started (a restarted one is not flattered)', (t) => {
  // Started at 25 % and 1000 samples; 20 s later at 50 % and 1500: 25 samples/s, 25 % per 20 s, 50 % left.
  t.deepEqual(rateAndEta({ t: 5, samples: 1000, fraction: 0.25 }, { t: 25, samples: 1500, fraction: 0.5 }), { rate: 25, eta: 40 });
  // Nothing moved yet: a rate of 0 and no ETA rather than a guess.
  t.deepEqual(rateAndEta({ t: 0, samples: 10, fraction: 0.1 }, { t: 8, samples: 10, fraction: 0.1 }), { rate: 0 });
  t.deepEqual(rateAndEta({ t: 3, samples: 0, fraction: 0 }, { t: 3, samples: 0, fraction: 0 }), { rate: 0 });
  // A killed worker's shard restarts from 0: samples may go down, the rate never below 0.
  t.is(rateAndEta({ t: 0, samples: 100, fraction: 0.5 }, { t: 10, samples: 90, fraction: 0.55 }).rate, 0);
});

test('the one progress line says shards, samples, rate, ETA and workers alive', (t) => {
  const p: RunProgress = { shards: 30, stored: 12, failed: 1, active: [{ shard: 'a', worker: 'w1', done: 5 }, { shard: 'b', done: 0 }], waiting: 15, samples: 1234, fraction: 0.4, workers: 3, rate: 56.2, eta: 190 };
  t.is(queueProgressLine(p, 62, 10), '[####......]  40%  12/30 shards stored  2 active  15 waiting  1 failed  1234 samples  56.2/s  ETA 3m10s  3 workers  elapsed 1m02s');
  t.is(queueProgressLine({ ...p, active: [], waiting: 0, failed: 0, fraction: 1, workers: 1, rate: 2.5 }, 5, 4), '[####] 100%  12/30 shards stored  1234 samples  2.50/s  1 worker  elapsed 5s');
});
