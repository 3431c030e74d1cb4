import { resolve } from 'node:path';
import type { Command } from 'commander';
import { writeReport } from '../../pipelines/report.js';
import { defineCommand } from '../define.js';
import { opt } from '../options.js';

export const reportCommand = (): Command =>
  defineCommand({
    name: 'report',
    summary: 'a static HTML page of a score store (and a selection): distilled images, patches on score maps, clusters, run',
    description:
      'A static HTML page of a score store (and a selection): distilled images, patches on their score maps, ' +
      'clusters, the run. Source images are re-read from the shards the store names, so those must still be ' +
      'where scoring found them. Open <out>/index.html in a browser; the page needs no server.',
    options: {
      store: opt.store.required(),
      selection: opt.selection,
      evaluation: opt.evaluation,
      out: opt.out.required(),
      topPatches: opt.topPatches,
      maxSources: opt.maxSources,
    },
    async action(o) {
      const summary = await writeReport({
        store: o.store,
        ...(o.selection !== undefined ? { selection: o.selection } : {}),
        ...(o.evaluation !== undefined ? { evaluation: o.evaluation } : {}),
        out: o.out,
        topPatches: o.topPatches,
        maxSources: o.maxSources,
      });
      for (const p of summary.problems.slice(0, 10)) console.error(`warning: ${p}`);
      if (summary.problems.length > 10) console.error(`warning: ... and ${summary.problems.length - 10} more (listed at the top of the page)`);
      console.log(`report: ${resolve(summary.index)} (${summary.classes} classes, ${summary.images} images)`);
    },
  });
