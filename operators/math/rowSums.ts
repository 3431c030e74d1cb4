/**
 * Float64 sums of float32 rows, for k-means' cluster means, in WebAssembly SIMD. Each f64x2 lane is
 * one dimension, and every dimension is still summed row after row in the order given, each float32
 * widened exactly and added in float64: the bits of the scalar loop `sum[d] += row[d]`, at several
 * times its speed (JavaScript has no SIMD, and the sums are the largest cost of a Lloyd iteration).
 *
 * The module is 210 bytes, written out below (no toolchain, nothing fetched); one instance per thread,
 * its memory holding one k-means run's points, grown to the largest run seen.
 */

// The part of the WebAssembly global used here (its types come with the DOM library, which a Node project leaves out).
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

const I32 = 0x7f;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
const name = (s: string): number[] => vector([...Buffer.from(s, 'ascii')].map((b) => [b]));

// Instructions used (WebAssembly core and SIMD opcodes).
const get = (i: number): number[] => [0x20, i];
const set = (i: number): number[] => [0x21, i];
const tee = (i: number): number[] => [0x22, i];
const int = (v: number): number[] => [0x41, ...uleb(v)]; // i32.const, small non-negative values only
const [ADD, SHL, MUL, LT, GT, GE] = [0x6a, 0x74, 0x6c, 0x48, 0x4a, 0x4e];
const simd = (op: number): number[] => [0xfd, ...uleb(op)];
const [V128_LOAD, V128_STORE, LOAD64_ZERO, PROMOTE_LOW, F64X2_ADD] = [0x00, 0x0b, 0x5d, 0x5f, 0xf0];
const at = (alignLog2: number): number[] => [alignLog2, 0];
const [BLOCK, LOOP, IF, END, BR, BR_IF, VOID] = [0x02, 0x03, 0x04, 0x0b, 0x0c, 0x0d, 0x40];
const [I32_LOAD, F32_LOAD, F64_LOAD, F64_STORE, F64_PROMOTE, F64_ADD] = [0x28, 0x2a, 0x2b, 0x39, 0xbb, 0xa0];

/**
 * sum(out, rows, members, from, to, dim): for j in [from, to), row = rows + 4 dim members[j] (bytes),
 * out[d] += row[d] for every d; out is dim float64, rows float32, members int32, all byte offsets.
 */
function sumModule(): Uint8Array {
  const [out, rows, members, from, to, dim, j, row, d, o] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const code = [
    ...vector([[4, I32]]),
    ...get(from), ...set(j),
    BLOCK, VOID, LOOP, VOID,
    ...get(j), ...get(to), GE, BR_IF, 1,
    ...get(rows), ...get(members), ...get(j), ...int(2), SHL, ADD, I32_LOAD, ...at(2), ...get(dim), MUL, ...int(2), SHL, ADD, ...set(row),
    ...int(0), ...set(d),
    BLOCK, VOID, LOOP, VOID,
    ...get(d), ...int(2), ADD, ...get(dim), GT, BR_IF, 1,
    ...get(out), ...get(d), ...int(3), SHL, ADD, ...tee(o),
    ...get(o), ...simd(V128_LOAD), ...at(3),
    ...get(row), ...get(d), ...int(2), SHL, ADD, ...simd(LOAD64_ZERO), ...at(3),
    ...simd(PROMOTE_LOW), ...simd(F64X2_ADD), ...simd(V128_STORE), ...at(3),
    ...get(d), ...int(2), ADD, ...set(d),
    BR, 0, END, END,
    // An odd dim's last dimension.
    ...get(d), ...get(dim), LT, IF, VOID,
    ...get(out), ...get(d), ...int(3), SHL, ADD, ...tee(o),
    ...get(o), F64_LOAD, ...at(3), ...get(row), ...get(d), ...int(2), SHL, ADD, F32_LOAD, ...at(2), F64_PROMOTE, F64_ADD, F64_STORE, ...at(3),
    END,
    ...get(j), ...int(1), ADD, ...set(j),
    BR, 0, END, END,
    END,
  ];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, vector([[0x60, ...vector(Array.from({ length: 6 }, () => [I32])), ...vector([])]])),
    ...section(3, vector([[0]])),
    ...section(5, vector([[0x00, ...uleb(1)]])),
    ...section(7, vector([[...name('sum'), 0x00, 0], [...name('memory'), 0x02, 0]])),
    ...section(10, vector([[...uleb(code.length), ...code]])),
  ]);
}

type SumFn = (out: number, rows: number, members: number, from: number, to: number, dim: number) => void;

let instance: { sum: SumFn; memory: WasmMemory } | undefined;

function module(): { sum: SumFn; memory: WasmMemory } {
  if (instance === undefined) {
    const exports = new WebAssembly.Instance(new WebAssembly.Module(sumModule())).exports as { sum: SumFn; memory: WasmMemory };
    instance = { sum: exports.sum, memory: exports.memory };
  }
  return instance;
}

const PAGE = 65536;
const align16 = (bytes: number): number => Math.ceil(bytes / 16) * 16;

/** The RowSums whose points the module's memory holds now. */
let loaded: RowSums | undefined;

/**
 * One k-means run's n x dim points, summed in this thread's module memory. The points are copied in
 * on first use, and again only when another run (an interleaved async k-means on the same thread)
 * has used the memory since.
 */
export class RowSums {
  private readonly outAt: number;
  private readonly rowsAt: number;

  constructor(
    private readonly points: Float32Array,
    readonly n: number,
    readonly dim: number,
  ) {
    // Memory: the points, the sum (dim float64), the row indices.
    this.outAt = align16(n * dim * 4);
    this.rowsAt = align16(this.outAt + dim * 8);
  }

  /** `out` (dim values) = the sum of the rows `rows` names (indices in [0, n)), added in that order from 0. */
  sum(rows: Int32Array, out: Float64Array): void {
    const { sum, memory } = module();
    const { n, dim } = this;
    const bytes = this.rowsAt + rows.length * 4;
    if (bytes > memory.buffer.byteLength) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE));
    if (loaded !== this) {
      new Float32Array(memory.buffer, 0, n * dim).set(this.points.subarray(0, n * dim));
      loaded = this;
    }
    new Int32Array(memory.buffer, this.rowsAt, rows.length).set(rows);
    const acc = new Float64Array(memory.buffer, this.outAt, dim).fill(0);
    sum(this.outAt, 0, this.rowsAt, 0, rows.length, dim);
    out.set(acc);
  }
}
