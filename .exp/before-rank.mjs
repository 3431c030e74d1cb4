// Old (main) clustering on a sample of classes of the synthetic store, one at a time as main did.
import { clusterClass } from '/tmp/ddps-old/dist/operators/cluster.js';
import { ScoreStore } from '/tmp/ddps-old/dist/storage/store/index.js';
const dir = '/tmp/ddps-bench-imagenet/store';
const probe = ScoreStore.open(dir, { readOnly: true });
const { config, pack } = probe; await probe.close();
const store = ScoreStore.open(dir, { config, pack });
const n = Number(process.argv[2] ?? 10);
const t0 = performance.now(); let its = 0;
for (let cls = 0; cls < n; cls++) { const s = await clusterClass(store, cls, { clusters: 32, seed: 0 }); its += s.iterations; }
const ms = performance.now() - t0;
console.log(JSON.stringify({ classes: n, ms, perClassMs: ms / n, iterations: its / n, extrapolated1000s: ms / n }));
await store.close();
