import type { Command } from 'commander';
import { DdpsError } from '../../core/errors.js';
import { ScoreStore, storeDigest } from '../../storage/store/index.js';
import { defineCommand, type Values } from '../define.js';
import { opt } from '../options.js';

function norm(v: Float32Array | undefined): number | null {
  if (!v) return null;
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

const OPTIONS = {
  store: opt.store.required(),
  list: opt.list,
  sample: opt.sample,
  digest: opt.digest,
  json: opt.json,
};

async function inspect(o: Values<typeof OPTIONS>): Promise<void> {
  const store = ScoreStore.open(o.store, { readOnly: true });
  try {
    const json = o.json === true;
    const key = o.sample;
    if (o.digest) {
      console.log(storeDigest(store));
      return;
    }
    if (o.list) {
      for (const k of store.keys()) console.log(k);
      return;
    }
    if (key !== undefined) {
      const s = store.getSample(key);
      if (!s) throw new DdpsError('BAD_ARGUMENT', `store ${store.dir} has no sample '${key}'${store.status(key) === 'skipped' ? ' (it was skipped: see ddps inspect)' : ''}`);
      const out = {
        key: s.key,
        class: s.cls,
        shard: s.shard,
        size: s.size,
        transform: s.transform,
        scoreMap: { shape: [s.scoreMap.h, s.scoreMap.w], data: Array.from(s.scoreMap.data) },
        patches: s.patches.map((p) => ({ box: p.box, boxOriginal: p.boxOriginal, score: p.score, featureNorm: norm(p.feature) })),
      };
      if (json) console.log(JSON.stringify(out));
      else {
        console.log(`${s.key}: class ${s.cls}, ${s.size[0]}x${s.size[1]} from ${s.shard}; score map ${s.scoreMap.h}x${s.scoreMap.w}`);
        for (const p of out.patches) console.log(`  patch [${p.box}] (original [${p.boxOriginal}]) score ${p.score.toExponential(3)} |feature| ${p.featureNorm?.toFixed(3)}`);
      }
      return;
    }
    const counts = store.counts();
    const names = (store.config as { classes?: string[] }).classes ?? [];
    const classes = Object.fromEntries([...counts.perClass].map(([cls, c]) => [String(cls), { name: names[cls] ?? null, samples: c.samples, patches: c.patches }]));
    const skipped = [...store.skipped()];
    if (json) {
      console.log(JSON.stringify({ config: store.config, pack: store.pack, samples: counts.samples, skipped: counts.skipped, classes, skippedSamples: skipped, runs: store.runs() }));
      return;
    }
    console.log(`store ${store.dir}`);
    console.log(`pack ${store.pack.name} (digest ${store.pack.digest})`);
    console.log(`config ${JSON.stringify({ ...store.config, classes: undefined })}`);
    console.log(`${counts.samples} samples, ${counts.patches} patches, ${counts.skipped} skipped`);
    for (const r of store.runs()) console.log(`  run ended ${r.ended}: ${r.scored} scored, ${r.skipped} skipped in ${r.seconds.toFixed(1)} s (${(r.scored / Math.max(r.seconds, 1e-9)).toFixed(2)}/s), ${JSON.stringify(r.execution)}`);
    for (const [cls, c] of Object.entries(classes)) console.log(`  class ${cls.padStart(3)} ${String(c.name ?? '').padEnd(20)} ${String(c.samples).padStart(6)} samples ${String(c.patches).padStart(6)} patches`);
    for (const s of skipped.slice(0, 20)) console.log(`  skipped ${s.key ?? '(rest of shard)'} in ${s.shard}: [${s.code}] ${s.reason}`);
    if (skipped.length > 20) console.log(`  ... and ${skipped.length - 20} more (--json lists all)`);
  } finally {
    await store.close();
  }
}

export const inspectCommand = (): Command =>
  defineCommand({
    name: 'inspect',
    summary: 'what a score store holds: configuration, counts per class, skipped samples, one sample in detail',
    options: OPTIONS,
    action: inspect,
  });
