import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ScoreStore } from '../dist/storage/store/index.js';
const dir = '/tmp/ddps-lmdb-worker-test';
if (isMainThread) {
  const { rmSync } = await import('node:fs');
  rmSync(dir, { recursive: true, force: true });
  const store = ScoreStore.open(dir, { config: { a: 1 }, pack: { name: 'x', digest: 'y' } });
  await store.putSample({ key: 'k1', shard: 's', cls: 0, size: [4, 4], transform: { scale: 1, offsetX: 0, offsetY: 0, width: 4, height: 4 }, scoreMap: { h: 1, w: 1, data: Float32Array.of(1) }, patches: [{ box: [0, 0, 1, 1], boxOriginal: [0, 0, 1, 1], score: 1, feature: Float32Array.of(1, 2) }] });
  const w = new Worker(new URL(import.meta.url), { workerData: dir });
  w.on('message', async (m) => { console.log('worker read', m); await store.putSample({ key: 'k2', shard: 's', cls: 0, size: [4, 4], transform: { scale: 1, offsetX: 0, offsetY: 0, width: 4, height: 4 }, scoreMap: { h: 1, w: 1, data: Float32Array.of(1) }, patches: [] }); w.postMessage('again'); });
  w.on('error', (e) => console.log('worker error', e));
  w.on('exit', async () => { await store.close(); console.log('done'); });
} else {
  const store = ScoreStore.open(workerData, { readOnly: true });
  parentPort.postMessage([...store.classPatches(0)].map((p) => [p.key, [...p.feature]]));
  parentPort.once('message', async () => { console.log('worker sees', store.counts().samples); await store.close(); process.exit(0); });
}
