import test from 'ava';
import { access, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { isDdpsError } from '../core/errors.js';
import { type SampleToWrite, ShardWriter, type WdsSample, formatShardName, readSamples } from '../storage/webdataset/index.js';
import { sampleMembers, tarMemberBytes } from '../storage/webdataset/writer.js';
import { needs } from './helpers/needs.js';
import { DATA } from './helpers/paths.js';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ddps-wdsw-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function collect(urls: string | string[]): Promise<WdsSample[]> {
  const out: WdsSample[] = [];
  for await (const s of readSamples(urls)) out.push(s);
  return out;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Deterministic pseudo-random bytes, different per i. */
function bytes(i: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = (i + 1) * 2654435761;
  for (let k = 0; k < n; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[k] = x >>> 24;
  }
  return b;
}

function makeSample(i: number): SampleToWrite {
  return {
    __key__: `s${String(i).padStart(4, '0')}`,
    jpg: bytes(i, 700 + 37 * i),
    cls: i % 10,
    json: { label: `c${i % 10}`, box: [i, 2, 3, 4] },
    txt: `sample ${i}`,
  };
}

async function writeAll(pattern: string, n: number, opts: ConstructorParameters<typeof ShardWriter>[1] = {}): Promise<string[]> {
  const w = new ShardWriter(pattern, opts);
  for (let i = 0; i < n; i++) await w.write(makeSample(i));
  return w.close();
}

/** Raw ustar headers: name, mode, uid, gid, size, mtime, uname. */
function headers(tar: Buffer) {
  const out = [];
  for (let off = 0; off + 512 <= tar.length; ) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, n: number) => h.toString('utf8', a, a + n).replace(/\0[\s\S]*$/, '');
    const oct = (a: number, n: number) => parseInt(str(a, n).trim(), 8);
    const size = oct(124, 12);
    out.push({ name: str(0, 100), mode: oct(100, 8), uid: oct(108, 8), gid: oct(116, 8), size, mtime: oct(136, 12), uname: str(265, 32) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

test('formatShardName: printf-style shard numbers', (t) => {
  t.is(formatShardName('out/train-%06d.tar', 7), 'out/train-000007.tar');
  t.is(formatShardName('s%d.tar', 123), 's123.tar');
  t.is(formatShardName('s%3d.tar', 5), 's  5.tar');
  t.is(formatShardName('100%%-%02d.tar', 3), '100%-03.tar');
  for (const bad of ['train.tar', 'a-%d-%d.tar', '%%d.tar']) t.true(isDdpsError(t.throws(() => formatShardName(bad, 0)), 'BAD_ARGUMENT'));
  t.is(tarMemberBytes(0), 512);
  t.is(tarMemberBytes(1), 1024);
  t.is(tarMemberBytes(512), 1024);
  t.is(tarMemberBytes(513), 1536);
});

test('round trip: every field reads back equal, shards roll at maxcount, no temporary files remain', async (t) => {
  const dir = await tempDir(t);
  const n = 23;
  const shards = await writeAll(join(dir, 'out/train-%06d.tar'), n, { maxcount: 5 });
  t.deepEqual(shards, [0, 1, 2, 3, 4].map((i) => join(dir, `out/train-00000${i}.tar`)));
  t.is(shards.length, Math.ceil(n / 5));
  t.deepEqual((await readdir(join(dir, 'out'))).sort(), shards.map((s) => s.slice(join(dir, 'out/').length)));

  const perShard = await Promise.all(shards.map((s) => collect(s)));
  t.deepEqual(perShard.map((s) => s.length), [5, 5, 5, 5, 3]);
  const back = perShard.flat();
  t.is(back.length, n);
  back.forEach((s, i) => {
    const src = makeSample(i);
    t.is(s.__key__, src.__key__);
    t.is(s.__url__, shards[Math.floor(i / 5)]);
    t.deepEqual(Object.keys(s).sort(), ['__key__', '__url__', 'cls', 'jpg', 'json', 'txt']);
    t.true((s.jpg as Buffer).equals(src.jpg as Buffer));
    t.is(s.cls.toString(), String(i % 10));
    t.deepEqual(JSON.parse(s.json.toString()), src.json);
    t.is(s.txt.toString(), `sample ${i}`);
  });
});

test('deterministic tars: fixed header fields, sorted extensions, byte-identical on a second write', async (t) => {
  const dir = await tempDir(t);
  const a = await writeAll(join(dir, 'a-%02d.tar'), 12, { maxcount: 6 });
  const b = await writeAll(join(dir, 'b-%02d.tar'), 12, { maxcount: 6 });
  t.is(a.length, 2);
  for (let i = 0; i < a.length; i++) t.true((await readFile(a[i])).equals(await readFile(b[i])), `shard ${i}`);
  const tar = await readFile(a[0]);
  const hs = headers(tar);
  t.deepEqual(hs.slice(0, 4).map((h) => h.name), ['s0000.cls', 's0000.jpg', 's0000.json', 's0000.txt']);
  for (const h of hs) t.like(h, { mode: 0o644, uid: 0, gid: 0, mtime: 0, uname: '' });
  t.is(hs.length, 6 * 4);
  // The file is exactly the members plus the two-block end marker.
  t.is(tar.length, hs.reduce((sum, h) => sum + tarMemberBytes(h.size), 0) + 1024);
});

test('maxsize rolls to a new shard once the tar bytes reach it', async (t) => {
  const dir = await tempDir(t);
  const w = new ShardWriter(join(dir, 'm-%d.tar'), { maxsize: 5000 });
  // Each sample is one 1000-byte member, 1536 tar bytes: a shard reaches 5000 after its 4th sample.
  for (let i = 0; i < 10; i++) await w.write({ __key__: `k${i}`, bin: bytes(i, 1000) });
  const shards = await w.close();
  t.deepEqual((await Promise.all(shards.map((s) => collect(s)))).map((s) => s.map((x) => x.__key__)), [
    ['k0', 'k1', 'k2', 'k3'],
    ['k4', 'k5', 'k6', 'k7'],
    ['k8', 'k9'],
  ]);
});

test('a .tar.gz pattern writes gzipped, deterministic shards that read back', async (t) => {
  const dir = await tempDir(t);
  const [gz] = await writeAll(join(dir, 'z-%03d.tar.gz'), 8, { startShard: 4 });
  t.is(gz, join(dir, 'z-004.tar.gz'));
  const [plain] = await writeAll(join(dir, 'p-%03d.tar'), 8);
  const [again] = await writeAll(join(dir, 'y-%03d.tar.gz'), 8);
  t.true(gunzipSync(await readFile(gz)).equals(await readFile(plain)));
  t.true((await readFile(gz)).equals(await readFile(again)));
  t.deepEqual((await collect(gz)).map((s) => s.__key__), (await collect(plain)).map((s) => s.__key__));
});

test('the shard carries its final name only once complete', async (t) => {
  const dir = await tempDir(t);
  const final = join(dir, 'x-0.tar');
  const w = new ShardWriter(join(dir, 'x-%d.tar'));
  await w.write(makeSample(0));
  t.true(await exists(`${final}.tmp`));
  t.false(await exists(final));
  t.deepEqual(w.shards, []);
  t.deepEqual(await w.close(), [final]);
  t.true(await exists(final));
  t.false(await exists(`${final}.tmp`));
  t.deepEqual(await w.close(), [final]);
  t.true(isDdpsError(await t.throwsAsync(w.write(makeSample(1))), 'BAD_ARGUMENT'));
  t.deepEqual(await new ShardWriter(join(dir, 'none-%d.tar')).close(), []);

  // Where the shard cannot be created, the write that needed it fails with the path.
  await mkdir(join(dir, 'y-0.tar.tmp'));
  const e = await t.throwsAsync(new ShardWriter(join(dir, 'y-%d.tar')).write(makeSample(0)));
  t.true(isDdpsError(e, 'BAD_SHARD'));
  t.true(e!.message.includes('y-0.tar.tmp'));
  const notDir = await t.throwsAsync(new ShardWriter(join(final, 'z-%d.tar')).write(makeSample(0)));
  t.true(isDdpsError(notDir, 'BAD_SHARD'));
  t.true(notDir!.message.includes(join(final, 'z-0.tar')));
});

needs('shared')('un-awaited writes, large members and a real shard keep their order and bytes', async (t) => {
  const dir = await tempDir(t);
  const w = new ShardWriter(join(dir, 'c-%d.tar'), { maxcount: 4 });
  const big = bytes(99, 6 * 1024 * 1024);
  await Promise.all([0, 1, 2, 3, 4, 5].map((i) => w.write(i === 2 ? { __key__: 'big', bin: big } : makeSample(i))));
  const back = await collect(await w.close());
  t.deepEqual(back.map((s) => s.__key__), ['s0000', 's0001', 'big', 's0003', 's0004', 's0005']);
  t.true((back[2].bin as Buffer).equals(big));

  // Re-sharding the real imagenette shard (its __url__ is not written back) keeps every sample.
  const src = join(DATA, 'imagenette/train-000000.tar');
  const re = new ShardWriter(join(dir, 'r-%d.tar'), { maxcount: 400 });
  for await (const s of readSamples(src)) await re.write(s);
  const paths = await re.close();
  t.is(paths.length, 3);
  const [orig, copy] = [await collect(src), await collect(paths)];
  t.is(copy.length, 1000);
  copy.forEach((s, i) => {
    t.is(s.__key__, orig[i].__key__);
    for (const ext of ['jpg', 'cls', 'json']) t.true((s[ext] as Buffer).equals(orig[i][ext] as Buffer));
  });
});

test('samples that would not read back as written are rejected, naming the sample', async (t) => {
  t.deepEqual(sampleMembers({ __key__: 'a/b', Txt: 'x', __url__: 'u', skip: undefined, n: 3 }).map((m) => [m.name, m.data.toString()]), [
    ['a/b.n', '3'],
    ['a/b.txt', 'x'],
  ]);
  const bad: SampleToWrite[] = [
    { __key__: 'a.b', txt: 'x' },
    { __key__: '', txt: 'x' },
    { __key__: 'k' },
    { __key__: 'k', TXT: 'x', txt: 'y' },
    { __key__: 'k', 'a/b': 'x' },
    { __key__: 'k', n: 10n },
  ];
  for (const s of bad) {
    const e = t.throws(() => sampleMembers(s));
    t.true(isDdpsError(e, 'BAD_SAMPLE'), String(s.__key__));
    t.true(e!.message.includes(`"${s.__key__}"`));
  }
  const dir = await tempDir(t);
  const w = new ShardWriter(join(dir, 'd-%d.tar'));
  await w.write({ __key__: 'same', txt: '1' });
  t.true(isDdpsError(await t.throwsAsync(w.write({ __key__: 'same', txt: '2' })), 'BAD_SAMPLE'));
  await w.write({ __key__: 'other', txt: '3' });
  t.deepEqual((await collect(await w.close())).map((s) => s.__key__), ['same', 'other']);
  for (const opts of [{ maxcount: 0 }, { maxsize: -1 }, { startShard: -1 }, { maxcount: 1.5 }]) {
    t.true(isDdpsError(t.throws(() => new ShardWriter(join(dir, 'e-%d.tar'), opts)), 'BAD_ARGUMENT'));
  }
});
