/** `ddps evaluate` and `ddps relabel --replay` as a user runs them: help and argument errors (no training). */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO, tempDir } from './helpers/paths.js';

const ddps = (...args: string[]) => spawnSync(process.execPath, [join(REPO, 'dist/cli/ddps.js'), ...args], { encoding: 'utf8' });

test('evaluate --help lists every profile, the development one marked, and what the numbers mean', (t) => {
  const r = ddps('evaluate', '--help');
  t.is(r.status, 0);
  // Commander wraps the text: compare it with single spaces.
  const text = r.stdout.replace(/\s+/g, ' ');
  for (const p of ['cifar10-conv3:', 'cifar10-resnet18:', 'imagenette-resnet18:', 'imagenette-resnet18-128:']) t.true(text.includes(p), p);
  t.regex(text, /imagenette-resnet18-128: [^.]*\(results valid for relative comparisons only\)/);
  t.regex(text, /best of last 20 %/);
  t.regex(text, /--compare <list>/);
  t.regex(text, /--student-batch-size <n>/);
});

test('evaluate and relabel --replay: wrong arguments exit 2 with the reason', (t) => {
  const dir = tempDir('ddps-cli-eval-');
  const base = ['evaluate', '--distilled', dir, '--val', dir, '--profile', 'cifar10-conv3'];
  const labels = ddps(...base, '--labels', 'soft');
  t.is(labels.status, 2);
  t.regex(labels.stderr, /'--labels <mode>' argument 'soft' is invalid\. Allowed choices are replay, static, hard/);
  const profile = ddps('evaluate', '--distilled', dir, '--val', dir, '--profile', 'cifar100');
  t.is(profile.status, 2);
  t.regex(profile.stderr, /Allowed choices are cifar10-conv3, /);
  const half = ddps(...base, '--teacher', 'x.onnx');
  t.is(half.status, 2);
  t.regex(half.stderr, /--teacher and --teacher-config go together/);
  const noProfile = ddps('relabel', '--replay', '--in', dir, '--teacher', 'x.onnx', '--teacher-config', 'x.json');
  t.is(noProfile.status, 2);
  t.regex(noProfile.stderr, /--replay needs --profile/);
  const noOut = ddps('relabel', '--in', dir, '--teacher', 'x.onnx', '--teacher-config', 'x.json');
  t.is(noOut.status, 2);
  t.regex(noOut.stderr, /required option '--out <dir>' not specified/);
});
