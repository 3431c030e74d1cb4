import test from 'ava';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readdirSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { type DdpsError, isDdpsError } from '../core/errors.js';
import { needs } from './helpers/needs.js';
import { DATA } from './helpers/paths.js';
import {
  type ReadOptions,
  type SkipInfo,
  type WdsSample,
  braceExpand,
  classMapFrom,
  expandShards,
  glob,
  loadClassMap,
  readSamples,
  sampleClass,
  sampleImage,
  splitMemberName,
  splitShards,
  tarBytes,
} from '../storage/webdataset/index.js';

const IMAGENETTE = `${DATA}/imagenette`;
const SHARD0 = `${IMAGENETTE}/train-000000.tar`;
const FIRST_KEY = 'n03394916_30368'; // `tar tf train-000000.tar | head -1`
const LAST_KEY = 'n03000684_1519'; // `tar tf train-000000.tar | tail -1`
// `tar xOf train-000000.tar n03394916_30368.jpg | md5sum`
const FIRST_JPG_MD5 = 'c4120f557b3fe81451a181ba5a1f2b21';
// `tar xf train-000000.tar --wildcards '*.cls' -O`, counted per class.
const SHARD0_CLASS_COUNTS = [102, 96, 102, 99, 90, 111, 96, 107, 103, 94];

async function collect(urls: string | string[], opts: ReadOptions = {}): Promise<WdsSample[]> {
  const out: WdsSample[] = [];
  for await (const s of readSamples(urls, opts)) out.push(s);
  return out;
}

/** Keys yielded before the reader threw, and what it threw. */
async function collectUntilThrow(urls: string | string[], opts: ReadOptions = {}): Promise<{ keys: string[]; error: unknown }> {
  const keys: string[] = [];
  try {
    for await (const s of readSamples(urls, opts)) keys.push(s.__key__);
  } catch (error) {
    return { keys, error };
  }
  return { keys, error: undefined };
}

/** An independent ustar walk: each member's header offset, data offset and size. */
function tarLayout(buf: Buffer): Array<{ name: string; header: number; data: number; size: number }> {
  const out = [];
  for (let off = 0; off + 512 <= buf.length; ) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.toString('utf8', 0, 100).replace(/\0[\s\S]*$/, '');
    const size = parseInt(h.toString('ascii', 124, 136).replace(/\0[\s\S]*$/, '').trim(), 8);
    out.push({ name, header: off, data: off + 512, size });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ddps-wds-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function buildTar(path: string, members: Array<{ name: string; data?: string; type?: 'file' | 'directory' }>): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack as unknown as NodeJS.ReadableStream, createWriteStream(path));
  for (const m of members) {
    await new Promise<void>((resolve, reject) =>
      m.type === 'directory'
        ? pack.entry({ name: m.name, type: 'directory' }, (err) => (err ? reject(err) : resolve()))
        : pack.entry({ name: m.name }, m.data ?? '', (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
}

test('tarBytes: header plus the body in whole blocks, so the members of a tar add up to its size (but the end-of-archive blocks)', async (t) => {
  t.deepEqual([0, 1, 511, 512, 513, 2048].map((size) => tarBytes({ size })), [512, 1024, 1024, 1024, 1536, 2560]);
  const dir = await tempDir(t);
  const path = join(dir, 'a.tar');
  await buildTar(path, [
    { name: 'x.cls', data: '7' },
    { name: 'x.txt', data: 'y'.repeat(512) },
    { name: 'z.cls', data: '12' },
    { name: 'z.txt', data: 'w'.repeat(1300) },
  ]);
  let counted = 0;
  await collect(path, { onMember: (m) => (counted += tarBytes(m)) });
  t.is(counted + 1024, (await readFile(path)).length);
});

needs('shared')('imagenette train-000000: 1000 samples of jpg+cls+json with known keys, bytes and classes', async (t) => {
  const classes = await loadClassMap(`${IMAGENETTE}/classes.json`);
  const samples = await collect(SHARD0);
  t.is(samples.length, 1000);
  t.is(samples[0].__key__, FIRST_KEY);
  t.is(samples[999].__key__, LAST_KEY);
  t.is(samples[1].__key__, 'n03445777_138');
  const counts = new Array<number>(10).fill(0);
  for (const s of samples) {
    t.deepEqual(Object.keys(s).sort(), ['__key__', '__url__', 'cls', 'jpg', 'json']);
    t.is(s.__url__, SHARD0);
    t.regex(s.__key__, /^n\d{8}_\w+$/);
    const cls = sampleClass(s, classes)!;
    counts[cls]++;
    // The three class sources agree: .cls, the .json label by name, and the WordNet id in the key.
    const meta = JSON.parse((s.json as Buffer).toString('utf8'));
    t.is(classes.indexOf(meta.label), cls);
    t.is(classes.entries[cls].wnid, s.__key__.slice(0, 9));
    t.is(sampleImage(s), s.jpg as Buffer);
  }
  t.deepEqual(counts, SHARD0_CLASS_COUNTS);
  t.is(createHash('md5').update(samples[0].jpg as Buffer).digest('hex'), FIRST_JPG_MD5);
  t.is((samples[0].jpg as Buffer).length, 15394);
  t.deepEqual(JSON.parse((samples[0].json as Buffer).toString()), {
    label: 'French horn',
    source: 'train/n03394916/n03394916_30368.JPEG',
    wnid: 'n03394916',
  });
});

needs('shared')('brace expansion over the 5 imagenette train shards: 5000 samples, 500 per class, shard order kept', async (t) => {
  const classes = await loadClassMap(`${IMAGENETTE}/classes.json`);
  const counts = new Array<number>(10).fill(0);
  const firstOfShard = new Map<string, string>();
  let n = 0;
  for await (const s of readSamples(`${IMAGENETTE}/train-{000000..000004}.tar`)) {
    if (!firstOfShard.has(s.__url__)) firstOfShard.set(s.__url__, s.__key__);
    counts[sampleClass(s, classes)!]++;
    n++;
  }
  t.is(n, 5000);
  t.deepEqual(counts, new Array<number>(10).fill(500));
  t.deepEqual([...firstOfShard], [
    [`${IMAGENETTE}/train-000000.tar`, 'n03394916_30368'],
    [`${IMAGENETTE}/train-000001.tar`, 'n03417042_ILSVRC2012_val_00005094'],
    [`${IMAGENETTE}/train-000002.tar`, 'n03394916_35688'],
    [`${IMAGENETTE}/train-000003.tar`, 'n03888257_11584'],
    [`${IMAGENETTE}/train-000004.tar`, 'n03028079_13597'],
  ]);
});

needs('shared').serial('streaming: the reader stays at most one member ahead of the consumer and memory stays flat', async (t) => {
  v8.setFlagsFromString('--expose_gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  gc();
  const baseline = used();
  let membersRead = 0;
  let membersConsumed = 0;
  let maxAhead = 0;
  let peak = 0;
  let n = 0;
  for await (const s of readSamples(`${IMAGENETTE}/train-{000000..000004}.tar`, { onMember: () => membersRead++ })) {
    membersConsumed += Object.keys(s).length - 2;
    maxAhead = Math.max(maxAhead, membersRead - membersConsumed);
    // A slow consumer: a push-based reader would race ahead here.
    await new Promise((r) => setImmediate(r));
    if (++n % 250 === 0) {
      gc();
      peak = Math.max(peak, used() - baseline);
    }
  }
  t.is(n, 5000);
  t.is(membersRead, 15000);
  t.true(maxAhead <= 1, `read ${maxAhead} members ahead of the consumer`);
  // 66 MB of shards went through; a reader that buffered even one shard would exceed this.
  t.log(`peak growth ${(peak / 1e6).toFixed(1)} MB`);
  t.true(peak < 30e6, `memory grew by ${(peak / 1e6).toFixed(1)} MB`);
});

needs('shared')('.tar.gz and .tgz shards read the same samples as the plain tar', async (t) => {
  await readShard0();
  const dir = await tempDir(t);
  const gz = join(dir, 'train-000000.tar.gz');
  await pipeline(createReadStream(SHARD0), createGzip(), createWriteStream(gz));
  const tgz = join(dir, 'train-000000.tgz');
  await writeFile(tgz, await readFile(gz));
  const digest = (samples: WdsSample[]) => {
    const h = createHash('sha256');
    for (const s of samples) for (const ext of ['jpg', 'cls', 'json']) h.update(s.__key__ + ext).update(s[ext] as Buffer);
    return h.digest('hex');
  };
  const plain = digest(await collect(SHARD0));
  for (const path of [gz, tgz]) {
    const samples = await collect(path);
    t.is(samples.length, 1000);
    t.is(samples[0].__key__, FIRST_KEY);
    t.is(samples[0].__url__, path);
    t.is(digest(samples), plain);
  }

  const gzBytes = await readFile(gz);
  const half = await damaged(dir, 'half.tar.gz', gzBytes.subarray(0, gzBytes.length >> 1));
  const r = await collectUntilThrow(half);
  t.true(r.keys.length > 100 && r.keys.length < 900, `${r.keys.length} samples before the cut`);
  t.deepEqual(r.keys, shard0Keys.slice(0, r.keys.length));
  t.true(isDdpsError(r.error, 'BAD_SHARD'));
  t.regex((r.error as Error).message, /half\.tar\.gz is truncated \(the gzip stream ends early\)/);
  const notGz = await collectUntilThrow(await damaged(dir, 'plain.tgz', shard0.subarray(0, 4096)));
  t.regex((notGz.error as Error).message, /plain\.tgz is not valid gzip \(incorrect header check\) before its first sample/);
});

test('member grouping follows webdataset: first-dot keys, lower-cased extensions, skipped meta and directories', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'odd.tar');
  await buildTar(path, [
    { name: '__meta__.json', data: '{}' },
    { name: 'd', type: 'directory' },
    { name: 'd/a.b.JPG', data: 'A1' },
    { name: 'd/a.CLS', data: '1' },
    { name: 'noext', data: 'x' },
    { name: 'd/.hidden', data: 'h' },
    { name: 'x.y/b.txt', data: 'B' },
    { name: 'c.txt', data: 'C1' },
    { name: 'c.txt', data: 'C2' }, // a repeated extension starts a new sample
    { name: 'e.__key__', data: 'not a key' },
    { name: 'e.toString', data: 'T' },
  ]);
  const got = (await collect(path)).map((s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.toString()])));
  t.deepEqual(got, [
    { __key__: 'd/a', __url__: path, 'b.jpg': 'A1', cls: '1' },
    { __key__: 'x.y/b', __url__: path, txt: 'B' },
    { __key__: 'c', __url__: path, txt: 'C1' },
    { __key__: 'c', __url__: path, txt: 'C2' },
    { __key__: 'e', __url__: path, tostring: 'T' },
  ]);
  t.deepEqual(splitMemberName('dir/a.b.jpg'), { key: 'dir/a', ext: 'b.jpg' });
  t.deepEqual(splitMemberName('A.PNG'), { key: 'A', ext: 'png' });
  t.is(splitMemberName('README'), undefined);
  t.is(splitMemberName('dir/.hidden'), undefined);
});

// Shard 0's bytes and keys, for building damaged copies of it.
let shard0: Buffer;
let shard0Keys: string[];
let layout: ReturnType<typeof tarLayout>;
let shard0Read: Promise<void> | undefined;
/** shard0, its member layout and keys, read by the first test that needs them. */
const readShard0 = (): Promise<void> =>
  (shard0Read ??= (async () => {
    shard0 = await readFile(SHARD0);
    layout = tarLayout(shard0);
    shard0Keys = (await collect(SHARD0)).map((s) => s.__key__);
  })());

async function damaged(dir: string, name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

needs('shared')('a shard cut inside a member: yields every complete sample once, then skips to the next shard or fails', async (t) => {
  await readShard0();
  const dir = await tempDir(t);
  const all = shard0Keys;
  t.is(layout.length, 3000);
  t.deepEqual(layout.slice(0, 3).map((m) => m.name), [`${FIRST_KEY}.jpg`, `${FIRST_KEY}.cls`, `${FIRST_KEY}.json`]);
  const K = 200;
  const jpg = layout[3 * K];
  const cut = await damaged(dir, 'cut.tar', shard0.subarray(0, jpg.data + Math.floor(jpg.size / 2)));
  const next = `${IMAGENETTE}/train-000001.tar`;

  const skips: SkipInfo[] = [];
  const keys = (await collect([cut, next], { onError: 'skip', onSkip: (i) => skips.push(i) })).map((s) => s.__key__);
  t.is(keys.length, K + 1000);
  t.deepEqual(keys.slice(0, K), all.slice(0, K));
  t.is(keys[K], 'n03417042_ILSVRC2012_val_00005094'); // shard 1 follows at once
  t.is(skips.length, 1);
  t.is(skips[0].url, cut);
  t.is(skips[0].key, all[K - 1]);
  t.true(skips[0].reason.includes(cut) && skips[0].reason.includes(all[K - 1]) && /truncated/.test(skips[0].reason), skips[0].reason);

  const failed = await collectUntilThrow([cut, next]);
  t.deepEqual(failed.keys, all.slice(0, K));
  t.true(isDdpsError(failed.error, 'BAD_SHARD'));
  const e = failed.error as DdpsError;
  t.is(e.file, cut);
  t.is(e.sample, all[K - 1]);
  t.regex(e.message, new RegExp(`${cut}.*truncated.*${all[K - 1]}`));

  // Cut inside the sample's last member: the sample is incomplete, so it is dropped, not yielded.
  const json = layout[3 * K + 2];
  const r = await collectUntilThrow(await damaged(dir, 'cut-json.tar', shard0.subarray(0, json.data + 10)));
  t.deepEqual(r.keys, all.slice(0, K));
  t.regex((r.error as Error).message, new RegExp(`after sample "${all[K - 1]}".*incomplete sample "${all[K]}" is dropped`));
});

needs('shared')('a shard cut exactly at a member boundary is caught by its missing end-of-archive marker', async (t) => {
  await readShard0();
  const dir = await tempDir(t);
  const K = 300;
  // It ends after sample K-1's last member: nothing proves that sample complete, so it is dropped too.
  const r = await collectUntilThrow(await damaged(dir, 'boundary.tar', shard0.subarray(0, layout[3 * K].header)));
  t.deepEqual(r.keys, shard0Keys.slice(0, K - 1));
  t.true(isDdpsError(r.error, 'BAD_SHARD'));
  t.regex((r.error as Error).message, /no end-of-archive marker/);
  t.is((r.error as DdpsError).sample, shard0Keys[K - 2]);
});

needs('shared')('garbage bytes where a header should be: corrupt shard reported with the last good key', async (t) => {
  await readShard0();
  const dir = await tempDir(t);
  const all = shard0Keys;
  const K = 50;
  const at = layout[3 * K].header;
  const path = await damaged(dir, 'garbage.tar', Buffer.concat([shard0.subarray(0, at), Buffer.alloc(4096, 0xa5), shard0.subarray(at)]));
  const skips: SkipInfo[] = [];
  const keys = (await collect([path, SHARD0], { onError: 'skip', onSkip: (i) => skips.push(i) })).map((s) => s.__key__);
  // Sample K-1 is not followed by a readable header, so it is not known to be complete.
  t.deepEqual(keys, [...all.slice(0, K - 1), ...all]);
  t.is(skips.length, 1);
  t.is(skips[0].key, all[K - 2]);
  t.regex(skips[0].reason, /corrupt/);

  const noise = await damaged(dir, 'noise.tar', Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919 + 13) % 251)));
  const r = await collectUntilThrow(noise);
  t.deepEqual(r.keys, []);
  t.true(isDdpsError(r.error, 'BAD_SHARD'));
  t.regex((r.error as Error).message, new RegExp(`${noise} is corrupt .*before its first sample`));
});

test('a shard that vanishes after expansion is MISSING_FILE, or skipped', async (t) => {
  const dir = await tempDir(t);
  const a = join(dir, 'a.tar');
  const b = join(dir, 'b.tar');
  await buildTar(a, [{ name: 'k1.txt', data: '1' }]);
  await buildTar(b, [{ name: 'k2.txt', data: '2' }]);
  const it = readSamples([a, b])[Symbol.asyncIterator]();
  t.is((await it.next()).value?.__key__, 'k1');
  await unlink(b);
  const e = await t.throwsAsync(it.next());
  t.true(isDdpsError(e, 'MISSING_FILE'));
  t.regex(e!.message, /b\.tar cannot be opened \(ENOENT\)/);

  await buildTar(b, [{ name: 'k2.txt', data: '2' }]);
  const skips: SkipInfo[] = [];
  const it2 = readSamples([b, a], { onError: 'skip', onSkip: (i) => skips.push(i) })[Symbol.asyncIterator]();
  t.is((await it2.next()).value?.__key__, 'k2');
  await unlink(a);
  t.true((await it2.next()).done);
  t.is(skips.length, 1);
  t.is(skips[0].url, a);
});

needs('shared')('an error thrown by a callback is not mistaken for a bad shard, even under skip', async (t) => {
  const skips: SkipInfo[] = [];
  const boom = new Error('callback bug');
  const e = await t.throwsAsync(
    collect(SHARD0, {
      onError: 'skip',
      onSkip: (i) => skips.push(i),
      onMember: () => {
        throw boom;
      },
    }),
  );
  t.is(e, boom);
  t.deepEqual(skips, []);
});

needs('shared').serial('breaking out early closes the shard file', async (t) => {
  const openShards = () => readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).endsWith('train-000000.tar');
    } catch {
      return false; // the fd closed while we looked
    }
  }).length;
  let n = 0;
  for await (const s of readSamples(SHARD0)) {
    t.is(s.__key__, FIRST_KEY);
    t.is(openShards(), 1);
    if (++n === 1) break;
  }
  // The close is asynchronous: wait for it, however long it takes (ava's timeout catches a leak).
  while (openShards() > 0) await new Promise((r) => setTimeout(r, 10));
  t.is(openShards(), 0);
});

test('sampleImage and sampleClass: sources in order, names through the class map, errors name the sample', (t) => {
  const map = classMapFrom(['cat', 'Dog', 'bird']);
  const s = (fields: Record<string, string | Buffer>): WdsSample => ({ __key__: 'k7', __url__: 'x.tar', ...fields });
  const png = Buffer.from('png');
  const jpeg = Buffer.from('jpeg');
  t.is(sampleImage(s({ png, jpeg })), jpeg);
  t.is(sampleImage(s({ webp: png })), png);
  t.is(sampleImage(s({ txt: 'cat' })), undefined);

  t.is(sampleClass(s({ cls: Buffer.from('2\n'), txt: 'cat' }), map), 2);
  t.is(sampleClass(s({ json: '{"label": 1}', txt: 'cat' })), 1);
  t.is(sampleClass(s({ json: '{"class": "DOG"}' }), map), 1);
  t.is(sampleClass(s({ json: '{"cls": "bird"}' }), map), 2);
  t.is(sampleClass(s({ json: '{"other": 1}', txt: ' cat\n' }), map), 0);
  t.is(sampleClass(s({ jpg: png })), undefined);

  const unknown = t.throws(() => sampleClass(s({ txt: 'horse' }), map));
  t.true(isDdpsError(unknown, 'UNKNOWN_CLASS'));
  t.regex(unknown!.message, /sample "k7" in x\.tar.*"horse"/);
  t.true(isDdpsError(t.throws(() => sampleClass(s({ cls: '3' }), map)), 'UNKNOWN_CLASS'));
  t.true(isDdpsError(t.throws(() => sampleClass(s({ cls: 'two' }), map)), 'BAD_SAMPLE'));
  t.true(isDdpsError(t.throws(() => sampleClass(s({ json: '{"label": 1.5}' }))), 'BAD_SAMPLE'));
  t.true(isDdpsError(t.throws(() => sampleClass(s({ json: '{oops' }))), 'BAD_SAMPLE'));
  t.true(isDdpsError(t.throws(() => sampleClass(s({ txt: 'cat' }))), 'BAD_ARGUMENT'));
});

needs('shared')('class maps: the cifar10 and imagenette classes.json, plain arrays, and bad maps', async (t) => {
  const cifar = await loadClassMap(`${DATA}/cifar10/classes.json`);
  t.deepEqual(cifar.names, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  t.is(cifar.indexOf('CAT'), 3);
  t.is(cifar.indexOf('Truck'), 9);
  t.is(cifar.indexOf('lion'), undefined);
  t.deepEqual(cifar.entries[0], { index: 0, name: 'airplane' });
  const nette = await loadClassMap(`${IMAGENETTE}/classes.json`);
  t.is(nette.indexOf('english springer'), 1);
  t.deepEqual(nette.entries[9], { index: 9, wnid: 'n03888257', name: 'parachute', imagenet_index: 701 });

  const shuffled = classMapFrom({ classes: [{ index: 1, name: 'b' }, { index: 0, name: 'a' }] });
  t.deepEqual(shuffled.names, ['a', 'b']);
  t.deepEqual(classMapFrom(['x', 'y']).entries, [{ index: 0, name: 'x' }, { index: 1, name: 'y' }]);
  for (const bad of [[], { classes: [{ index: 0, name: 'a' }, { index: 0, name: 'b' }] }, [{ index: 2, name: 'a' }], [3], {}]) {
    t.true(isDdpsError(t.throws(() => classMapFrom(bad, 'bad.json')), 'BAD_CONFIG'), JSON.stringify(bad));
  }
  const dir = await tempDir(t);
  await writeFile(join(dir, 'broken.json'), '{"classes": [');
  const e = await t.throwsAsync(loadClassMap(join(dir, 'broken.json')));
  t.true(isDdpsError(e, 'BAD_CONFIG'));
  t.true(e!.message.includes('broken.json'));
  t.true(isDdpsError(await t.throwsAsync(loadClassMap(join(dir, 'none.json'))), 'MISSING_FILE'));
});

test('braceExpand: padding, lists, several and nested groups, steps, letters, escapes, literal groups', (t) => {
  t.deepEqual(braceExpand('train-{000000..000004}.tar'), ['000000', '000001', '000002', '000003', '000004'].map((n) => `train-${n}.tar`));
  t.deepEqual(braceExpand('{8..11}'), ['8', '9', '10', '11']);
  t.deepEqual(braceExpand('{08..11}'), ['08', '09', '10', '11']);
  t.deepEqual(braceExpand('{3..1}'), ['3', '2', '1']);
  t.deepEqual(braceExpand('{0..10..5}'), ['0', '5', '10']);
  t.deepEqual(braceExpand('{-1..1}'), ['-1', '0', '1']);
  t.deepEqual(braceExpand('{a..c}'), ['a', 'b', 'c']);
  t.deepEqual(braceExpand('{train,val}-{0..1}.tar'), ['train-0.tar', 'train-1.tar', 'val-0.tar', 'val-1.tar']);
  t.deepEqual(braceExpand('x{a,b{1,2}}y'), ['xay', 'xb1y', 'xb2y']);
  t.deepEqual(braceExpand('{a,}z'), ['az', 'z']);
  t.deepEqual(braceExpand('{a}{}'), ['{a}{}']);
  t.deepEqual(braceExpand('\\{a,b\\}'), ['{a,b}']);
  t.deepEqual(braceExpand('plain.tar'), ['plain.tar']);
  for (const bad of ['train-{0..4.tar', 'a}b', '{a,{b}', '{0..2000000}']) {
    const e = t.throws(() => braceExpand(bad));
    t.true(isDdpsError(e, 'BAD_ARGUMENT'), bad);
    t.true(e!.message.includes(bad));
  }
});

needs('shared')('glob and expandShards: sorted matches, **, ::, arrays, and errors naming the pattern', async (t) => {
  const dir = await tempDir(t);
  for (const f of ['b/2.tar', 'b/10.tar', 'a/1.tar', 'a/x.txt', 'a/.h.tar', 'a/deep/er/3.tar', 'c.tar']) {
    await mkdir(join(dir, f, '..'), { recursive: true });
    await writeFile(join(dir, f), '');
  }
  t.deepEqual(await glob(`${dir}/*/*.tar`), [`${dir}/a/1.tar`, `${dir}/b/10.tar`, `${dir}/b/2.tar`]);
  t.deepEqual(await glob(`${dir}/b/?.tar`), [`${dir}/b/2.tar`]);
  t.deepEqual(await glob(`${dir}/[ab]/[!2]*.tar`), [`${dir}/a/1.tar`, `${dir}/b/10.tar`]);
  t.deepEqual(await glob(`${dir}/**/*.tar`), [`${dir}/a/1.tar`, `${dir}/a/deep/er/3.tar`, `${dir}/b/10.tar`, `${dir}/b/2.tar`, `${dir}/c.tar`]);
  t.deepEqual(await glob(`${dir}/a/.*.tar`), [`${dir}/a/.h.tar`]);
  t.deepEqual(await glob(`${dir}/nope/*.tar`), []);

  t.deepEqual(await expandShards(`${dir}/{a,b}/*.tar::${dir}/c.tar`), [`${dir}/a/1.tar`, `${dir}/b/10.tar`, `${dir}/b/2.tar`, `${dir}/c.tar`]);
  t.deepEqual(await expandShards([`${dir}/c.tar`, `file://${dir}/a/1.tar`]), [`${dir}/c.tar`, `${dir}/a/1.tar`]);
  t.deepEqual(await expandShards(`${IMAGENETTE}/train-{000003..000004}.tar`), [`${IMAGENETTE}/train-000003.tar`, `${IMAGENETTE}/train-000004.tar`]);

  const missing = await t.throwsAsync(expandShards(`${IMAGENETTE}/train-{000004..000005}.tar`));
  t.true(isDdpsError(missing, 'MISSING_FILE'));
  t.regex(missing!.message, /train-\{000004\.\.000005\}\.tar.*train-000005\.tar/);
  const empty = await t.throwsAsync(expandShards(`${dir}/a/*.tgz`));
  t.true(isDdpsError(empty, 'MISSING_FILE'));
  t.true(empty!.message.includes(`${dir}/a/*.tgz`));
  t.true(isDdpsError(await t.throwsAsync(expandShards(`${dir}/a/1.tar::${dir}/{x`)), 'BAD_ARGUMENT'));
  t.true(isDdpsError(await t.throwsAsync(expandShards('https://example.com/train-0.tar')), 'BAD_ARGUMENT'));
  t.true(isDdpsError(await t.throwsAsync(expandShards([])), 'BAD_ARGUMENT'));
  t.true(isDdpsError(await t.throwsAsync(collect(`${dir}/none-*.tar`)), 'MISSING_FILE'));
});

test('splitShards gives each rank every worldSize-th shard', (t) => {
  const urls = ['s0', 's1', 's2', 's3', 's4'];
  t.deepEqual(splitShards(urls, { rank: 0, worldSize: 2 }), ['s0', 's2', 's4']);
  t.deepEqual(splitShards(urls, { rank: 1, worldSize: 2 }), ['s1', 's3']);
  t.deepEqual(splitShards(urls, { rank: 2, worldSize: 3 }), ['s2']);
  t.deepEqual(splitShards(urls, { rank: 0, worldSize: 1 }), urls);
  for (const bad of [{ rank: 2, worldSize: 2 }, { rank: -1, worldSize: 2 }, { rank: 0, worldSize: 0 }, { rank: 0.5, worldSize: 2 }]) {
    t.true(isDdpsError(t.throws(() => splitShards(urls, bad)), 'BAD_ARGUMENT'));
  }
});
