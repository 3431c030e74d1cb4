import { kmeans, kmeansPlusPlus, assign } from '../dist/operators/math/kmeans.js';
import { MatMul } from '../dist/models/matmul.js';
import { seededRandom } from '../dist/models/noise.js';
import { kmeans as mlKMeans } from 'ml-kmeans';
const [n, dim, k] = [1300, 1280, 32];
function mixture(n, dim, modes, noise, seed) {
  const r = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const centres = Array.from({ length: modes }, () => Float64Array.from({ length: dim }, gauss));
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) { const c = centres[Math.floor(r() * modes)]; let s = 0;
    for (let d = 0; d < dim; d++) s += (out[i * dim + d] = c[d] + noise * gauss()) ** 2;
    for (let d = 0; d < dim; d++) out[i * dim + d] /= Math.sqrt(s); }
  return out;
}
const mm = await MatMul.open();
for (const [modes, noise] of [[48, 2.5], [48, 3], [48, 4]]) {
  const pts = mixture(n, dim, modes, noise, 1);
  let t0 = performance.now();
  kmeansPlusPlus(pts, n, dim, k, seededRandom(0));
  const tpp = performance.now() - t0;
  t0 = performance.now();
  const r = await kmeans(pts, n, dim, { k, seed: 0, dots: (p, a, b, c, d) => mm.dots(p, a, b, c, d) });
  const tnew = performance.now() - t0;
  console.log(`modes ${modes} noise ${noise}: new ${tnew.toFixed(0)} ms (k-means++ ${tpp.toFixed(0)}), iterations ${r.iterations}, cpu ${JSON.stringify(process.cpuUsage())}`);
  if (modes === 48 && noise === 1.0) {
    t0 = performance.now();
    const start = kmeansPlusPlus(pts, n, dim, k, seededRandom(0));
    const rows = Array.from({ length: n }, (_, i) => Array.from(pts.subarray(i * dim, (i + 1) * dim)));
    const init = Array.from({ length: k }, (_, c) => Array.from(start.subarray(c * dim, (c + 1) * dim)));
    const run = mlKMeans(rows, k, { initialization: init, maxIterations: 100, tolerance: 1e-10 });
    const cf = new Float32Array(k * dim); run.centroids.forEach((c, j) => cf.set(c, j * dim));
    assign(pts, n, cf, k, dim);
    console.log('old', (performance.now() - t0).toFixed(0), 'ms iterations', run.iterations);
  }
}
await mm.release();
