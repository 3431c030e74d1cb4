/** Busy time of one stage: calls, items and milliseconds. */
export interface StageTime {
  ms: number;
  calls: number;
  items: number;
}

/**
 * Busy time per stage: the sum of the durations of each stage's calls. Model stages are timed where
 * the model runs (inside the worker), so queueing is not counted; with several workers or decodes
 * in flight the sums can exceed the wall time: they say where the cost is, not when.
 */
export class StageTimer {
  private readonly stages = new Map<string, StageTime>();

  /** `items`: how many images or model inputs the call handled (a UNet call's batch, say). */
  add(stage: string, ms: number, items = 1): void {
    const s = this.stages.get(stage) ?? { ms: 0, calls: 0, items: 0 };
    s.ms += ms;
    s.calls++;
    s.items += items;
    this.stages.set(stage, s);
  }

  async time<T>(stage: string, fn: () => Promise<T>, items = 1): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(stage, performance.now() - t0, items);
    }
  }

  timeSync<T>(stage: string, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.add(stage, performance.now() - t0);
    }
  }

  report(): Record<string, StageTime> {
    return Object.fromEntries([...this.stages].map(([k, v]) => [k, { ...v, ms: Math.round(v.ms * 10) / 10 }]));
  }
}

/** Sums the reports of several timers (one per worker). */
export function mergeReports(reports: Record<string, StageTime>[]): Record<string, StageTime> {
  const out: Record<string, StageTime> = {};
  for (const r of reports) {
    for (const [k, v] of Object.entries(r)) {
      const o = (out[k] ??= { ms: 0, calls: 0, items: 0 });
      o.ms += v.ms;
      o.calls += v.calls;
      o.items += v.items;
    }
  }
  return out;
}

/** What `after` holds beyond `before` (two reports of one cumulative timer): one job's share of a long-lived pool's time. */
export function subtractReport(after: Record<string, StageTime>, before: Record<string, StageTime>): Record<string, StageTime> {
  const out: Record<string, StageTime> = {};
  for (const [k, v] of Object.entries(after)) {
    const b = before[k] ?? { ms: 0, calls: 0, items: 0 };
    if (v.calls > b.calls) out[k] = { ms: Math.round((v.ms - b.ms) * 10) / 10, calls: v.calls - b.calls, items: v.items - b.items };
  }
  return out;
}
