/** The command line itself: one meaning per flag, validated values, old spellings, help that reads like the paper. */
import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { DEFAULT_SCORE_CONFIG, DEFAULT_SELECTION } from '../core/config.js';
import { defineCommand, renamed, type Values } from '../cli/define.js';
import { classMapSpelledClasses, opt } from '../cli/options.js';
import { buildProgram } from '../cli/program.js';
import { etaSeconds, progressLine, ratePerSecond, scoreFraction, shardProgress } from '../cli/progress.js';
import { REPO, tempDir } from './helpers/paths.js';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

const ddps = (...args: string[]): Promise<Ran> =>
  new Promise((resolve) => {
    execFile(process.execPath, [join(REPO, 'dist/cli/ddps.js'), ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

test('a flag means one thing in every command: each long flag has one definition (hidden old spellings aside)', (t) => {
  const seen = new Map<string, { def: string; where: string }>();
  let flags = 0;
  for (const cmd of allCommands(buildProgram())) {
    for (const o of cmd.options as Option[]) {
      if (o.hidden || !o.long) continue;
      // A command may give its own default (shown at the end of the help text); the meaning must be the same.
      const def = `${o.flags} | ${o.description.replace(/ \(default: [^)]*\)$/, '')}`;
      const first = seen.get(o.long);
      if (first) t.is(def, first.def, `${o.long} in ${cmd.name()} differs from ${first.where}`);
      else seen.set(o.long, { def, where: cmd.name() });
      flags++;
    }
  }
  t.true(flags > 60);
  for (const renamedFlag of ['--seed', '--classes']) t.not(seen.get(renamedFlag)?.def.includes('file'), true);
  t.true(seen.get('--class-map')!.def.includes('classes.json'));
  t.true(seen.get('--classes')!.def.includes('subset'));
  for (const seed of ['--noise-seed', '--cluster-seed', '--fkd-seed', '--toy-seed']) t.true(seen.has(seed), seed);
  t.false(seen.has('--seed'));
  // A default the action computes is still shown: commander alone prints none without a value.
  const distill = buildProgram().commands.find((c) => c.name() === 'distill')!;
  t.regex(distill.helpInformation(), /--store <dir>[\s\S]*?\(default:\s+<out>\/store\)/);
});

test('--help lists the paper knobs under their stage with the configuration defaults', async (t) => {
  // Commander wraps help to the terminal: compare with runs of whitespace as one space.
  const flat = (r: Ran) => ({ ...r, stdout: r.stdout.replace(/\s+/g, ' ') });
  const score = flat(await ddps('score', '--help'));
  t.is(score.code, 0);
  t.regex(score.stdout, /Scoring, Stages I-II \(the paper's knobs\):/);
  t.regex(score.stdout, new RegExp(`--timesteps <K>\\s+timesteps per image, stratified over --t-range \\(default: ${DEFAULT_SCORE_CONFIG.timesteps}\\)`));
  t.regex(score.stdout, /--t-range <lo,hi> timestep range as fractions of 1000 \(default: 0\.1,0\.7\)/);
  t.regex(score.stdout, /--dift-timestep <t>\s+timestep of the DIFT pass \(default: 261\)/);
  const select = flat(await ddps('select', '--help'));
  t.regex(select.stdout, new RegExp(`--top-clusters <N>[^]*\\(default: ${DEFAULT_SELECTION.topClusters}\\)`));
  t.regex(select.stdout, /--mosaic <mode>[^]*\(choices: "auto", "on", "off", default: "auto"\)/);
  t.false(select.stdout.includes('--seed '), 'old spellings stay out of --help');
  const top = await ddps('--help');
  for (const c of ['distill', 'score', 'select', 'relabel', 'report', 'inspect', 'model', 'tokenize', 'toy', 'demo']) t.regex(top.stdout, new RegExp(`\\n  ${c} `), c);
});

test('bad values are refused before anything runs, naming the flag and what it accepts (exit 2)', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['select', '--store', 's', '--out', 'o', '--mosaic', 'yes'], /option '--mosaic <mode>' argument 'yes' is invalid\. Allowed choices are auto, on, off/],
    [['select', '--store', 's', '--out', 'o', '--clusters', '0'], /option '--clusters <K>' argument '0' is invalid\. expected an integer >= 1/],
    [['select', '--store', 's', '--out', 'o', '--ipc', '1,ten'], /option '--ipc <n,\.\.\.>' argument '1,ten' is invalid\. expected integers >= 1 separated by commas/],
    [['score', '--shards', 'a', '--model', 'm', '--store', 's', '--dift-mode', 'full'], /'--dift-mode <mode>' argument 'full' is invalid\. Allowed choices are crop, shared/],
    [['score', '--shards', 'a', '--model', 'm', '--store', 's', '--scorer', 'clip'], /'--scorer <name>' argument 'clip' is invalid\. Allowed choices are diffusion, classifier, random/],
    [['score', '--shards', 'a', '--model', 'm', '--store', 's', '--on-error', 'ignore'], /'--on-error <policy>' argument 'ignore' is invalid\. Allowed choices are skip, fail/],
    [['score', '--shards', 'a', '--model', 'm', '--store', 's', '--t-range', '0.1'], /'--t-range <lo,hi>' argument '0\.1' is invalid\. expected two numbers in 0\.\.1/],
    [['score', '--shards', 'a', '--model', 'm', '--store', 's', '--image-size', '2.5'], /'--image-size <px>' argument '2\.5' is invalid\. expected an integer >= 64/],
    [['score', '--shards', 'a', '--model', 'm'], /required option '--store <dir>' not specified/],
    [['score', '--shards', 'a', '--model', 'm', '--store', 's', '--classes', 'tench'], /--classes 'tench' is not a file: the class map is --class-map <file>/],
    [['relabel', '--teacher', 't', '--teacher-config', 'c', '--in', 'i', '--out', 'o', '--temperature', '0'], /'--temperature <T>' argument '0' is invalid\. expected a number >=/],
  ];
  for (const [args, message] of cases) {
    const r = await ddps(...args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, new RegExp(`^ddps ${args[0]}: `), args.join(' '));
    t.regex(r.stderr, message, args.join(' '));
  }
});

function probe(argv: string[]) {
  const options = { noiseSeed: opt.noiseSeed, clusterSeed: opt.clusterSeed, classMap: opt.classMap, classes: opt.classes };
  let got: Values<typeof options> | undefined;
  const cmd = defineCommand({
    name: 'probe',
    summary: 'test',
    options,
    adjust: [renamed('--seed <n>', ['noiseSeed', 'clusterSeed']), classMapSpelledClasses],
    action: (o) => {
      got = o;
    },
  });
  cmd.exitOverride();
  cmd.configureOutput({ writeErr: () => undefined });
  cmd.parse(argv, { from: 'user' });
  return got!;
}

test('old spellings still work, with a deprecation line: --seed sets the seeds it once meant, --classes <file> is the class map', (t) => {
  const lines: string[] = [];
  const file = join(tempDir(), 'classes.json');
  writeFileSync(file, '["a"]');
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => lines.push(String(s)) > 0) as typeof process.stderr.write;
  try {
    t.like(probe(['--seed', '5']), { noiseSeed: 5, clusterSeed: 5 });
    t.like(probe(['--seed', '5', '--cluster-seed', '2']), { noiseSeed: 5, clusterSeed: 2 });
    t.like(probe([]), { noiseSeed: DEFAULT_SCORE_CONFIG.seed, clusterSeed: DEFAULT_SELECTION.clusterSeed });
    t.like(probe(['--classes', file]), { classMap: file, classes: undefined });
    t.like(probe(['--classes', 'tench,church']), { classes: 'tench,church' });
  } finally {
    process.stderr.write = write;
  }
  t.deepEqual(lines.map((l) => l.trim()), [
    'ddps probe: --seed is deprecated: use --noise-seed and --cluster-seed',
    'ddps probe: --seed is deprecated: use --noise-seed and --cluster-seed',
    `ddps probe: --classes ${file} is deprecated for a class-map file: use --class-map (--classes picks a subset of classes)`,
  ]);
  t.throws(() => probe(['--seed', 'x']), { message: /option '--seed <n>' argument 'x' is invalid\. expected an integer/ });
});

test('shardProgress: tar bytes passed over the shards\' sizes; with a need, samples done over it', (t) => {
  const shard = join(tempDir('ddps-progress-'), 'a.tar');
  writeFileSync(shard, Buffer.alloc(4096));
  const bytes = shardProgress([shard, shard]);
  bytes.onMember({ size: 1 });
  bytes.onMember({ size: 600 });
  t.is(bytes.fraction(99), (1024 + 1536) / 8192);
  const samples = shardProgress([shard], 8);
  samples.onMember({ size: 4096 });
  t.is(samples.fraction(2), 0.25);
});

test('progress with --limit-per-class: by the samples the classes still need, not by the bytes of every shard', (t) => {
  // 10 classes, limit 2, nothing stored: 20 samples to take.
  t.is(scoreFraction({ bytesRead: 5e6, totalBytes: 65e6, done: 10, needed: 20 }), 0.5);
  t.is(scoreFraction({ bytesRead: 5e6, totalBytes: 65e6, done: 20, needed: 20 }), 1);
  // The reader races through the samples of full classes: bytes say nothing then.
  t.is(scoreFraction({ bytesRead: 59e6, totalBytes: 65e6, done: 5, needed: 20 }), 0.25);
  // A resumed run with every class full is done.
  t.is(scoreFraction({ bytesRead: 0, totalBytes: 65e6, done: 0, needed: 0 }), 1);
  // No limit: by bytes.
  t.is(scoreFraction({ bytesRead: 13e6, totalBytes: 65e6, done: 300 }), 0.2);
});

test('the ETA counts from the first progress seen: start-up time is not extrapolated', (t) => {
  // The first of 20 samples after 46 s of loading; 5 of 20 at 63 s: 17 s for 4 samples, 60 s for the other 15.
  t.is(etaSeconds(0.05, 46, { elapsedSec: 46, fraction: 0.05 }), undefined);
  t.is(etaSeconds(0.25, 63, { elapsedSec: 46, fraction: 0.05 }), (17 * 0.75) / 0.2);
  t.is(etaSeconds(0.5, 10), 10);
  t.is(etaSeconds(1, 10), undefined);
  t.is(etaSeconds(0, 10), undefined);
});

test('the rate counts from the first progress too: a resumed run\'s kept work is not its pace', (t) => {
  // A resumed evaluation: 300 of 1800 epochs kept, seen at 2 s; 309 at 7 s is 9 epochs in 5 s, not 309 in 7 s.
  const from = { elapsedSec: 2, fraction: 300 / 1800, done: 300 };
  t.is(ratePerSecond(309, 7, from), 9 / 5);
  t.is(ratePerSecond(300, 2, from), undefined, 'no time since the first progress: no pace yet');
  t.is(ratePerSecond(50, 10), 5);
  t.is(ratePerSecond(0, 0), 0);
  t.regex(progressLine('train (epochs)', { done: 309, skipped: 0, fraction: 309 / 1800 }, 7, 24, from), /309 done {2}1\.80\/s/);
  t.regex(progressLine('train (epochs)', { done: 300, skipped: 0, fraction: 300 / 1800 }, 2, 24, from), /300 done {2}elapsed 2s/, 'the first line of a resumed run shows no rate');
  const all = { elapsedSec: 0.01, fraction: 1, done: 2700 };
  t.regex(progressLine('train (epochs)', { done: 2700, skipped: 0, fraction: 1 }, 0.01, 24, all), /2700 done {2}elapsed 0s$/, 'every student kept: no rate');
});
