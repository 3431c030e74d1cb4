/**
 * The k items with the smallest scores seen so far, in O(k) memory: a binary max-heap whose root is
 * the largest score kept, so a new item either replaces it or is dropped. Ties keep the earlier item.
 */
export class SmallestK<T> {
  private readonly heap: { score: number; seq: number; item: T }[] = [];
  private seq = 0;

  constructor(readonly k: number) {}

  /** Larger score, or equal score and later arrival, ranks higher (is evicted first). */
  private above(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.score > y.score || (x.score === y.score && x.seq > y.seq);
  }

  private swap(a: number, b: number): void {
    [this.heap[a], this.heap[b]] = [this.heap[b]!, this.heap[a]!];
  }

  /** Offers an item; returns whether it is kept (for now). */
  push(score: number, item: T): boolean {
    const entry = { score, seq: this.seq++, item };
    if (this.k <= 0) return false;
    if (this.heap.length === this.k) {
      const top = this.heap[0]!;
      if (score >= top.score) return false;
      this.heap[0] = entry;
      this.down(0);
      return true;
    }
    this.heap.push(entry);
    for (let i = this.heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.above(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
    return true;
  }

  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < this.heap.length && this.above(l, top)) top = l;
      if (r < this.heap.length && this.above(r, top)) top = r;
      if (top === i) return;
      this.swap(i, top);
      i = top;
    }
  }

  get size(): number {
    return this.heap.length;
  }

  /** The kept items, smallest score first (ties in arrival order). */
  sorted(): { score: number; item: T }[] {
    return [...this.heap].sort((a, b) => a.score - b.score || a.seq - b.seq).map(({ score, item }) => ({ score, item }));
  }
}
