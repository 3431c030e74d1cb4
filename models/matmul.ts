/**
 * X C^T on ONNX Runtime's CPU GEMM: the matrix product that k-means distances are made of
 * (operators/math/kmeans.ts). A one-node MatMul graph built in memory; one long-lived session per
 * thread that uses it (DESIGN.md: sessions leak when created and released repeatedly).
 */
import { GraphBuilder } from './onnx/builder.js';
import { OnnxModel, type RuntimeOptions } from './runtime.js';

function matMulGraph(): Uint8Array {
  const g = new GraphBuilder('dots');
  g.input('X', 'float32', ['n', 'dim']);
  g.input('Ct', 'float32', ['dim', 'k']);
  g.node('MatMul', ['X', 'Ct'], ['G']);
  g.output('G', 'float32', ['n', 'k']);
  return g.toModel().model;
}

export class MatMul {
  private constructor(private readonly model: OnnxModel) {}

  /**
   * One intra-op thread by default: callers parallelise over classes, one session per worker. Always
   * the CPU provider: GPU providers may multiply in TF32, coarser than the float32 error bound that
   * k-means' exact re-measure relies on.
   */
  static async open(opts: Pick<RuntimeOptions, 'intraOpThreads'> = {}): Promise<MatMul> {
    return new MatMul(await OnnxModel.load(matMulGraph(), { intraOpThreads: opts.intraOpThreads ?? 1, providers: ['cpu'], name: 'MatMul X C^T' }));
  }

  /** `out[i * k + c]` = row i of `points` (n x dim) . row c of `centroids` (k x dim), in float32. */
  async dots(points: Float32Array, n: number, dim: number, centroids: Float32Array, k: number): Promise<Float32Array> {
    // C^T is k x dim -> dim x k; MatMul then reads it the way its kernel packs B (faster than Gemm transB here).
    const ct = new Float32Array(dim * k);
    for (let c = 0; c < k; c++) for (let d = 0; d < dim; d++) ct[d * k + c] = centroids[c * dim + d];
    const { G } = await this.model.run({ X: { dtype: 'float32', dims: [n, dim], data: points }, Ct: { dtype: 'float32', dims: [dim, k], data: ct } });
    return G.data as Float32Array;
  }

  release(): Promise<void> {
    return this.model.release();
  }
}
