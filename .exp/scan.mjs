import { ScoreStore } from '../dist/storage/store/index.js';
const store = ScoreStore.open('/tmp/ddps-bench-imagenet/store', { readOnly: true });
for (const mode of ['headers', 'ids', 'headers']) {
  const t0 = performance.now(); let n = 0;
  for (let cls = 0; cls < 100; cls++) {
    if (mode === 'ids') for (const p of store.classPatchIds(cls)) n++;
    else for (const p of store.classPatches(cls, { features: false })) n++;
  }
  console.log(mode, n, ((performance.now() - t0) / 100).toFixed(2), 'ms/class');
}
let t0 = performance.now();
for (let cls = 0; cls < 100; cls++) store.getClassClusters(cls);
console.log('clusters', ((performance.now() - t0) / 100).toFixed(2));
await store.close();
