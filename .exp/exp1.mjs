import { kmeans } from '/work/wt/scale/dist/operators/math/kmeans.js';
import { seededRandom } from '/work/wt/scale/dist/models/noise.js';
import { GraphBuilder, attr } from '/work/wt/scale/dist/models/onnx/builder.js';
import ort from 'onnxruntime-node';
const n = 1300, d = 1280, k = 32;
const r = seededRandom(1);
const X = new Float32Array(n * d);
for (let i = 0; i < n; i++) { let s = 0; for (let j = 0; j < d; j++) { const v = r() * 2 - 1; X[i*d+j] = v; s += v*v; } s = Math.sqrt(s); for (let j = 0; j < d; j++) X[i*d+j] /= s; }
let t0 = performance.now();
const res = kmeans(X, n, d, { k, seed: 0 });
console.log('old kmeans ms', performance.now() - t0, 'iterations', res.iterations);
// ORT gemm
for (const mode of ['gemm', 'matmul']) {
  const g = new GraphBuilder('g');
  g.input('X', 'float32', ['n', 'd']);
  if (mode === 'gemm') { g.input('C', 'float32', ['k', 'd']); g.node('Gemm', ['X', 'C'], ['Y'], { transB: 1 }); }
  else { g.input('C', 'float32', ['d', 'k']); g.node('MatMul', ['X', 'C'], ['Y']); }
  g.output('Y', 'float32', ['n', 'k']);
  const bytes = g.toModel().model;
  for (const threads of [1, 2]) {
    const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, executionProviders: ['cpu'] });
    const C = new Float32Array(k * d); for (let i = 0; i < C.length; i++) C[i] = r() - 0.5;
    const feeds = { X: new ort.Tensor('float32', X, [n, d]), C: new ort.Tensor('float32', C, mode === 'gemm' ? [k, d] : [d, k]) };
    for (let i = 0; i < 5; i++) await s.run(feeds);
    t0 = performance.now();
    const reps = 50;
    for (let i = 0; i < reps; i++) await s.run({ X: new ort.Tensor('float32', X, [n, d]), C: new ort.Tensor('float32', C, mode === 'gemm' ? [k, d] : [d, k]) });
    const ms = (performance.now() - t0) / reps;
    console.log(mode, 'threads', threads, 'ms/run', ms.toFixed(3), 'GFLOP/s', (2*n*d*k/ms/1e6).toFixed(1));
  }
}
// JS exact distances kmeans++ style: one centroid vs all points
function sq(a, i, b, j, dim) { const ao = i*dim, bo = j*dim; let s = 0; for (let x = 0; x < dim; x++) { const q = a[ao+x]-b[bo+x]; s += q*q; } return s; }
t0 = performance.now();
let acc = 0;
for (let c = 0; c < 32; c++) for (let i = 0; i < n; i++) acc += sq(X, i, X, c, d);
console.log('JS exact n*k*d ms', performance.now() - t0, acc);
// 4-row ILP
function sq4(a, i, c, dim, out) { const o0=i*dim,o1=o0+dim,o2=o1+dim,o3=o2+dim, co=c*dim; let s0=0,s1=0,s2=0,s3=0; for (let x=0;x<dim;x++){const cv=c0[co+x]; let q=a[o0+x]-cv; s0+=q*q; q=a[o1+x]-cv; s1+=q*q; q=a[o2+x]-cv; s2+=q*q; q=a[o3+x]-cv; s3+=q*q;} out[0]=s0;out[1]=s1;out[2]=s2;out[3]=s3; }
const c0 = X; const out = new Float64Array(4);
t0 = performance.now(); acc = 0;
for (let c = 0; c < 32; c++) for (let i = 0; i + 4 <= n; i += 4) { sq4(X, i, c, d, out); acc += out[0]+out[1]+out[2]+out[3]; }
console.log('JS exact 4-row ms', performance.now() - t0, acc);
// update centers float64
const cl = res.clusters; const sums = new Float64Array(k*d);
t0 = performance.now();
for (let rep = 0; rep < 10; rep++) { sums.fill(0); for (let l = 0; l < n; l++) { const o = cl[l]*d, p = l*d; for (let x = 0; x < d; x++) sums[o+x] += X[p+x]; } }
console.log('update ms', (performance.now() - t0)/10);
