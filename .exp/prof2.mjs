import { ScoreStore } from '../dist/storage/store/index.js';
import { loadClassFeatures } from '../dist/operators/cluster.js';
const store = ScoreStore.open('/tmp/ddps-bench-imagenet/store', { readOnly: true });
const cpu = () => { const u = process.cpuUsage(); return [u.user / 1000, u.system / 1000]; };
for (const pass of [1, 2, 3]) {
  const [u0, s0] = cpu(); const t0 = performance.now();
  for (let cls = 600; cls < 610; cls++) loadClassFeatures(store, cls);
  const [u1, s1] = cpu();
  console.log(`pass ${pass}: wall ${((performance.now() - t0) / 10).toFixed(1)} user ${((u1 - u0) / 10).toFixed(1)} sys ${((s1 - s0) / 10).toFixed(1)} ms/class`);
}
await store.close();
