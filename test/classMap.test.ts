/**
 * Class maps as real datasets have them: ImageNet-1k repeats names (crane 134 and 517, maillot 638 and
 * 639; Cardigan 264 and cardigan 474 differ only in case) and labels samples by index or WordNet id.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isDdpsError } from '../core/errors.js';
import { parseClasses } from '../pipelines/distill.js';
import { classMapFrom, loadClassMap, readSamples, sampleClass, ShardWriter, type WdsSample } from '../storage/webdataset/index.js';
import { needs } from './helpers/needs.js';
import { DATA, REPO, TINY_SD, tempDir } from './helpers/paths.js';

const MAP = classMapFrom({
  classes: [
    { index: 0, wnid: 'n01440764', name: 'tench' },
    { index: 1, wnid: 'n02012849', name: 'crane' },
    { index: 2, wnid: 'n02105251', name: 'Cardigan' },
    { index: 3, wnid: 'n03126707', name: 'crane' },
    { index: 4, wnid: 'n03124170', name: 'cardigan' },
  ],
});

const sample = (fields: Record<string, string>): WdsSample => ({ __key__: 'k1', __url__: 'in.tar', ...fields });

test('repeated names load; exact name, then any case; an ambiguous one names its candidates; index and WordNet id always work', (t) => {
  t.deepEqual(MAP.names, ['tench', 'crane', 'Cardigan', 'crane', 'cardigan']);
  t.deepEqual(MAP.lookup('crane'), { candidates: [1, 3] });
  t.deepEqual(MAP.lookup('Cardigan'), { index: 2 });
  t.deepEqual(MAP.lookup('cardigan'), { index: 4 });
  t.deepEqual(MAP.lookup('CARDIGAN'), { candidates: [2, 4] });
  t.deepEqual(MAP.lookup('TENCH'), { index: 0 });
  t.deepEqual(MAP.lookup('n03126707'), { index: 3 });
  t.is(MAP.lookup('heron'), undefined);
  t.is(MAP.indexOf('crane'), undefined);
  t.true(MAP.hasWnids);

  t.is(sampleClass(sample({ cls: '3' }), MAP), 3);
  t.is(sampleClass(sample({ cls: 'n03126707\n' }), MAP), 3);
  t.is(sampleClass(sample({ json: '{"label": "n02012849"}' }), MAP), 1);
  t.is(sampleClass(sample({ json: '{"wnid": "n03124170"}' }), MAP), 4);
  t.is(sampleClass(sample({ txt: 'n02105251' }), MAP), 2);
  t.is(sampleClass(sample({ txt: 'Cardigan' }), MAP), 2);
  const ambiguous = t.throws(() => sampleClass(sample({ json: '{"label": "crane"}' }), MAP));
  t.true(isDdpsError(ambiguous, 'UNKNOWN_CLASS'));
  t.regex(ambiguous!.message, /sample "k1" in in\.tar: \.json "label" names class "crane", which is ambiguous: it names classes 1 "crane" \(n02012849\), 3 "crane" \(n03126707\); label the sample by index or WordNet id/);
  const unknownId = t.throws(() => sampleClass(sample({ cls: 'n09999999' }), MAP));
  t.regex(unknownId!.message, /"n09999999", which is not in the class map/);
  const noIds = t.throws(() => sampleClass(sample({ cls: 'n01440764' }), classMapFrom(['tench'])));
  t.regex(noIds!.message, /looks like a WordNet id, but the class map gives none/);

  t.deepEqual(parseClasses('tench,Cardigan,4', MAP.names), [0, 2, 4]);
  t.regex(t.throws(() => parseClasses('crane', MAP.names))!.message, /class 'crane' which is ambiguous: it names classes 1 "crane", 3 "crane"/);
  t.regex(t.throws(() => parseClasses('heron', MAP.names))!.message, /class 'heron' which is not in the class map/);
});

test('a WordNet id given twice, or not a WordNet id, is a bad class map', (t) => {
  for (const bad of [
    [{ name: 'a', wnid: 'n01440764' }, { name: 'b', wnid: 'n01440764' }],
    [{ name: 'a', wnid: 'tench' }],
  ]) {
    t.true(isDdpsError(t.throws(() => classMapFrom(bad, 'bad.json')), 'BAD_CONFIG'), JSON.stringify(bad));
  }
});

needs('shared')('a store of the full ImageNet-1k class list scores samples labelled by index, by WordNet id and by an exact name; an ambiguous name is skipped naming 134 and 517', async (t) => {
  const classes = join(DATA, 'imagenet1k/classes.json');
  const map = await loadClassMap(classes);
  t.is(map.names.length, 1000);
  t.deepEqual([map.names[264], map.names[474], map.names[134], map.names[517]], ['Cardigan', 'cardigan', 'crane', 'crane']);

  // Imagenette photos relabelled the ways ImageNet shards label them.
  const photos: WdsSample[] = [];
  for await (const s of readSamples(join(DATA, 'imagenette/train-000000.tar'))) if (photos.push(s) === 4) break;
  const dir = tempDir('ddps-in1k-');
  const w = new ShardWriter(join(dir, 'in1k-%06d.tar'));
  const labels: Record<string, string>[] = [{ cls: '0' }, { cls: 'n02102040' }, { txt: 'Cardigan' }, { json: '{"label": "crane"}' }];
  for (const [i, label] of labels.entries()) await w.write({ __key__: `img${i}`, jpg: photos[i]!.jpg!, ...label });
  const [shard] = await w.close();

  const store = join(dir, 'store');
  const ddps = (...args: string[]) => promisify(execFile)(process.execPath, [join(REPO, 'dist/cli/ddps.js'), ...args], { encoding: 'utf8' });
  await ddps('score', '--shards', shard!, '--class-map', classes, '--model', TINY_SD, '--store', store, '--timesteps', '1', '--quiet');
  const { stdout } = await ddps('inspect', '--store', store, '--json');
  const r = JSON.parse(stdout) as { classes: Record<string, { name: string; samples: number }>; skippedSamples: { key: string; code: string; reason: string }[]; config: { classes: string[] } };
  t.deepEqual(r.classes, { 0: { name: 'tench', samples: 1, patches: 1 }, 217: { name: 'English springer', samples: 1, patches: 1 }, 264: { name: 'Cardigan', samples: 1, patches: 1 } });
  t.is(r.skippedSamples.length, 1);
  t.like(r.skippedSamples[0], { key: 'img3', code: 'UNKNOWN_CLASS' });
  t.regex(r.skippedSamples[0]!.reason, /ambiguous: it names classes 134 "crane" \(n02012849\), 517 "crane" \(n03126707\)/);
  // The prompts use each class's name as given.
  t.deepEqual(r.config.classes, JSON.parse(readFileSync(classes, 'utf8')).classes.map((c: { name: string }) => c.name));
});
