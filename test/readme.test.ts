/**
 * The README's command blocks, run as written. The real-data block runs in a folder where `imagenette`,
 * `sd15-onnx` and `mobilenetv2-12-int8.onnx` are the Imagenette shards, the tiny-sd fixture (standing in
 * for an SD 1.5 export) and the MobileNetV2 teacher; `npx ddps` is this checkout's CLI. Two changes
 * only: the limit per class becomes 2 (the fixture is not the point), and the export line, which
 * needs internet and Python, is not run.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { readSamples } from '../storage/webdataset/index.js';
import { needs } from './helpers/needs.js';
import { DATA, MODELS, REPO, TINY_SD, tempDir } from './helpers/paths.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');

/** The ```sh blocks, in order. */
const blocks = [...README.matchAll(/```sh\n([^]*?)```/g)].map((m) => m[1]!);

/** Lines of a block that cannot run here, and why. */
const NOT_HERE: Array<[RegExp, string]> = [[/^optimum-cli export onnx /, 'exports SD 1.5 from the Hugging Face hub: needs internet and Python']];

function runBash(script: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('bash', ['-c', script], { cwd, env: { ...process.env, DDPS_CACHE: join(cwd, '.cache') } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

test('the quick start is `npm install && npm run demo` and `npm test`; the demo is `ddps demo` (demo.test.ts runs it)', (t) => {
  t.deepEqual(
    blocks[0]!.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean),
    ['npm install && npm run demo', 'npm test'],
  );
  const scripts = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  t.is(scripts.demo, 'node dist/cli/ddps.js demo');
});

needs('shared')('the real-data block runs as written: distill with classes.json and IPC 1,10,50, a two-class selection by name, MobileNetV2 soft labels, the report', async (t) => {
  const block = blocks.find((b) => b.includes('ddps distill'));
  t.truthy(block, 'the README has a distill block');
  const skipped = block!.split('\n').filter((l) => NOT_HERE.some(([re]) => re.test(l)));
  t.is(skipped.length, 1);
  const script = block!
    .split('\n')
    .filter((l) => !NOT_HERE.some(([re]) => re.test(l)))
    .join('\n')
    .replace('--limit-per-class 300', '--limit-per-class 2');
  t.not(script, block, 'the limit per class was found and made small');

  const cwd = tempDir('ddps-readme-');
  symlinkSync(join(DATA, 'imagenette'), join(cwd, 'imagenette'));
  symlinkSync(TINY_SD, join(cwd, 'sd15-onnx'));
  symlinkSync(join(MODELS, 'mobilenetv2-12-int8.onnx'), join(cwd, 'mobilenetv2-12-int8.onnx'));
  const npx = `npx() { if [ "$1" = ddps ]; then shift; node ${JSON.stringify(join(REPO, 'dist/cli/ddps.js'))} "$@"; else command npx "$@"; fi; }`;
  const r = await runBash(`set -euo pipefail\n${npx}\n${script}`, cwd);
  t.is(r.code, 0, r.stderr);
  t.false(/deprecated/.test(r.stderr), 'the README uses the current spellings');

  // The teacher config the README writes is the one shipped beside the teacher.
  t.deepEqual(JSON.parse(readFileSync(join(cwd, 'mnv2.json'), 'utf8')), JSON.parse(readFileSync(join(MODELS, 'mobilenetv2-12-int8.imagenette.json'), 'utf8')));

  const manifest = (dir: string) => JSON.parse(readFileSync(join(cwd, dir, 'manifest.json'), 'utf8')) as { images: number; classes: Record<string, { name: string }>; shards: string[] };
  const names = ['tench', 'English springer', 'cassette player', 'chain saw', 'church', 'French horn', 'garbage truck', 'gas pump', 'golf ball', 'parachute'];
  for (const ipc of [1, 10, 50]) {
    const m = manifest(`imagenette-dd/ipc${ipc}`);
    t.is(m.images, 10 * ipc, `IPC ${ipc}`);
    t.deepEqual(Object.values(m.classes).map((c) => c.name), names);
  }
  const two = manifest('two-classes');
  t.deepEqual(Object.keys(two.classes), ['0', '4']);
  t.is(two.images, 20);

  let labelled = 0;
  for (const shard of readdirSync(join(cwd, 'imagenette-ipc10-soft')).filter((f) => f.endsWith('.tar'))) {
    for await (const s of readSamples(join(cwd, 'imagenette-ipc10-soft', shard))) {
      const soft = JSON.parse(String(s['soft.json'])) as { probs: number[] };
      t.is(soft.probs.length, 10);
      t.true(Math.abs(soft.probs.reduce((a, b) => a + b, 0) - 1) < 1e-4);
      labelled++;
    }
  }
  t.is(labelled, 100);
  t.true(existsSync(join(cwd, 'imagenette-report', 'index.html')));
});
