/** `ddps evaluate` and `ddps relabel --replay` as a user runs them: help and argument errors (no training). */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO, tempDir } from './helpers/paths.js';

const ddps = (...args: string[]) => spawnSync(process.execPath, [join(REPO, 'dist/cli/ddps.js'), ...args], { encoding: 'utf8' });

test('evaluate --help lists every profile, the development one marked, and what the numbers mean', (t) => {
  const r = ddps('evaluate', '--help');
  t.is(r.status, 0);
  for (const p of ['cifar10-conv3', 'cifar10-resnet18', 'imagenette-resnet18 ', 'imagenette-resnet18-128']) t.true(r.stdout.includes(p), p);
  t.regex(r.stdout, /imagenette-resnet18-128 .*\(relative comparisons only\)/);
  t.regex(r.stdout, /best of last 20 %/);
  t.regex(r.stdout, /--compare list/);
});

test('evaluate and relabel --replay: wrong arguments exit 2 with the reason', (t) => {
  const dir = tempDir('ddps-cli-eval-');
  const labels = ddps('evaluate', '--distilled', dir, '--val', dir, '--profile', 'cifar10-conv3', '--labels', 'soft');
  t.is(labels.status, 2);
  t.regex(labels.stderr, /--labels must be replay, static, hard; got 'soft'/);
  const device = ddps('evaluate', '--distilled', dir, '--val', dir, '--profile', 'cifar10-conv3', '--device', 'tpu');
  t.is(device.status, 2);
  t.regex(device.stderr, /--device must be cpu or cuda/);
  const half = ddps('evaluate', '--distilled', dir, '--val', dir, '--profile', 'cifar10-conv3', '--teacher', 'x.onnx');
  t.is(half.status, 2);
  t.regex(half.stderr, /--teacher and --teacher-config go together/);
  const noProfile = ddps('relabel', '--replay', '--in', dir);
  t.is(noProfile.status, 2);
  t.regex(noProfile.stderr, /--profile is required/);
});
