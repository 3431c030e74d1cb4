/**
 * The README's command blocks, run as written. The real-data block runs in a folder where `imagenette`,
 * `sd15-onnx` and `mobilenetv2-12-int8.onnx` are the Imagenette shards, the tiny-sd fixture (standing in
 * for an SD 1.5 export) and the MobileNetV2 teacher; `npx ddps` is this checkout's CLI. Two changes
 * only: the limit per class becomes 2 (the fixture is not the point), and the export line, which
 * needs internet and Python, is not run. The "More than one machine" block runs on this one machine:
 * its Redis and its worker in the background, the toy world in place of ImageNet and SD 1.5.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { ScoreStore } from '../storage/store/index.js';
import { readSamples } from '../storage/webdataset/index.js';
import { ensureToyWorld } from '../toy/index.js';
import { needs } from './helpers/needs.js';
import { DATA, MODELS, REPO, TINY_SD, tempDir } from './helpers/paths.js';
import { TOY_SCORE } from './helpers/toyWorld.js';

const README = readFileSync(join(REPO, 'README.md'), 'utf8');

/** The ```sh blocks, in order. */
const blocks = [...README.matchAll(/```sh\n([^]*?)```/g)].map((m) => m[1]!);

/** Lines of a block that cannot run here, and why. */
const NOT_HERE: Array<[RegExp, string]> = [[/^optimum-cli export onnx /, 'exports SD 1.5 from the Hugging Face hub: needs internet and Python']];

/** `npx ddps` as this checkout's CLI, for the scripts run here. */
const NPX = `npx() { if [ "$1" = ddps ]; then shift; node ${JSON.stringify(join(REPO, 'dist/cli/ddps.js'))} "$@"; else command npx "$@"; fi; }`;

function runBash(script: string, cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('bash', ['-c', script], { cwd, env: { ...process.env, DDPS_CACHE: join(cwd, '.cache'), ...env } });
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
  const r = await runBash(`set -euo pipefail\n${NPX}\n${script}`, cwd);
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

/** A TCP port nobody listens on now (the kernel's pick), for a private redis-server. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

needs('redis')('the "More than one machine" block runs as written on one machine: Redis and a worker in the background, submit, status; every shard stored', async (t) => {
  const block = blocks.find((b) => b.includes('ddps worker'));
  t.truthy(block, 'the README has a queue block');
  const cwd = tempDir('ddps-readme-queue-');
  const port = await freePort();
  // 3 shards of the toy world stand in for ImageNet, the toy pack for SD 1.5 (with the knobs its 128-pixel images suit).
  const world = await ensureToyWorld({ dir: join(cwd, 'toy'), perClass: 3, shards: 3 });
  mkdirSync(join(cwd, 'nfs'));
  mkdirSync(join(cwd, 'data'));
  symlinkSync(world.data, join(cwd, 'nfs', 'imagenet'));
  symlinkSync(world.pack, join(cwd, 'nfs', 'sd15-onnx'));
  const toyKnobs = `--image-size ${TOY_SCORE.imageSize} --patch-size ${TOY_SCORE.patchSize} --timesteps ${TOY_SCORE.timesteps}`;
  /** What differs from the machines the README speaks of, each change once. */
  const changes: Array<[string | RegExp, string]> = [
    ['--bind 0.0.0.0', `--bind 127.0.0.1 --dir ${cwd}`], // one machine; Redis's files in the test's folder
    [/6379/g, String(port)],
    [/@head:/g, '@127.0.0.1:'],
    ['--providers cuda,cpu', '--providers cpu'],
    [/\/nfs\//g, `${cwd}/nfs/`],
    [/\/data\//g, `${cwd}/data/`],
    ['{000000..001281}', '{000000..000002}'],
    ['--store', `${toyKnobs} --store`],
  ];
  let script = block!;
  for (const [from, to] of changes) {
    const next = script.replace(from, to);
    t.not(next, script, `the block has ${String(from)}`);
    script = next;
  }
  // Redis and the worker are "left running" on their machines: here, in the background until the script ends.
  const lines = script.split('\n');
  const background = (re: RegExp): void => {
    const i = lines.findIndex((l) => re.test(l));
    t.not(i, -1, String(re));
    lines[i] = `${lines[i]} &`;
  };
  background(/^redis-server /);
  background(/^npx ddps worker /);
  const waitForRedis = `until (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null; do kill -0 $! || exit 1; sleep 0.1; done`;
  lines.splice(lines.findIndex((l) => l.startsWith('redis-server ')) + 1, 0, waitForRedis);
  // Last started, first stopped, each waited for: the worker closes while Redis is still there. A background
  // `npx ddps` is a subshell running node: node (its child) gets the SIGTERM, as from Ctrl-C.
  const stopBackground = "trap 'for p in $(jobs -p | tac); do pkill -TERM -P $p || kill $p 2>/dev/null || true; wait $p || true; done' EXIT";
  const password = 'readme-s3cret';
  const r = await runBash(`set -euo pipefail\n${NPX}\n${stopBackground}\n${lines.join('\n')}`, cwd, { REDIS_PASSWORD: password });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /run [0-9a-f]{16}: 3 of 3 shards in the store, which holds (\d+) samples/);
  t.regex(r.stdout, /3 done, 0 active, 0 waiting, 0 failed/);
  t.false(`${r.stdout}${r.stderr}`.includes(password), 'the password is never printed');

  let samples = 0;
  for (const shard of world.shards) for await (const _ of readSamples(shard)) samples++;
  const store = ScoreStore.open(join(cwd, 'data', 'imagenet-store'), { readOnly: true });
  try {
    t.is(store.counts().samples, samples, 'every sample of every shard is in the one store');
  } finally {
    await store.close();
  }
  rmSync(cwd, { recursive: true, force: true });
});
