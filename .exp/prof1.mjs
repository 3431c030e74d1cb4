import { ScoreStore } from '../dist/storage/store/index.js';
import { loadClassFeatures } from '../dist/operators/cluster.js';
import * as km from '../dist/operators/math/kmeans.js';
import { MatMul } from '../dist/models/matmul.js';
import { seededRandom } from '../dist/models/noise.js';
const store = ScoreStore.open('/tmp/ddps-bench-imagenet/store', { readOnly: true });
const mm = await MatMul.open();
const dots = (p, a, b, c, d) => mm.dots(p, a, b, c, d);
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const acc = { load: 0, pp: 0, kmeans: 0 };
for (let cls = 500; cls < 510; cls++) {
  let c0 = cpu(); const data = loadClassFeatures(store, cls); acc.load += cpu() - c0;
  const n = data.patches.length;
  c0 = cpu(); km.kmeansPlusPlus(data.features, n, 1280, 32, seededRandom(0)); acc.pp += cpu() - c0;
  c0 = cpu(); await km.kmeans(data.features, n, 1280, { k: 32, seed: 0, dots }); acc.kmeans += cpu() - c0;
}
console.log(Object.fromEntries(Object.entries(acc).map(([k, v]) => [k, (v / 10).toFixed(1) + ' ms cpu/class'])));
await store.close();
