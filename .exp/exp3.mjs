import { clusterMeans, nearestCentres, loopDots } from '../dist/operators/math/kmeans.js';
import { MatMul } from '../dist/models/matmul.js';
import { seededRandom } from '../dist/models/noise.js';
const [n, dim, k] = [1300, 1280, 32];
const r = seededRandom(1);
const pts = Float32Array.from({ length: n * dim }, () => r() - 0.5);
const norms = new Float64Array(n).fill(1);
const centres = Float64Array.from({ length: k * dim }, () => (r() - 0.5) * 0.1);
const mm = await MatMul.open();
const dots = (p, a, b, c, d) => mm.dots(p, a, b, c, d);
for (let rep = 0; rep < 3; rep++) {
  let t0 = performance.now();
  for (let i = 0; i < 20; i++) await dots(pts, n, dim, Float32Array.from(centres), k);
  const tg = (performance.now() - t0) / 20;
  t0 = performance.now();
  let cl;
  for (let i = 0; i < 20; i++) cl = await nearestCentres(pts, n, dim, norms, centres, k, dots);
  const tn = (performance.now() - t0) / 20;
  t0 = performance.now();
  for (let i = 0; i < 20; i++) clusterMeans(pts, n, dim, cl, k, centres);
  const tm = (performance.now() - t0) / 20;
  console.log(`gemm ${tg.toFixed(2)} nearest ${tn.toFixed(2)} means ${tm.toFixed(2)}`);
}
