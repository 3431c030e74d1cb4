import { resolve } from 'node:path';
import { writeReport } from '../../pipelines/report.js';
import { num, required, str } from '../args.js';
import type { Command } from '../command.js';

export const report: Command = {
  spec: {
    name: 'report',
    summary: 'a static HTML page of a score store (and a selection): distilled images, patches on score maps, clusters, run',
    usage: 'ddps report --store <dir> [--selection <dir>] --out <dir>',
    options: {
      store: { type: 'string', value: '<dir>', help: 'the score store' },
      selection: { type: 'string', value: '<dir>', help: 'distilled output (manifest.json beside *.tar shards); without it the top-scored patches are shown' },
      out: { type: 'string', value: '<dir>', help: 'where index.html and img/ go (img/ is replaced)' },
      'top-patches': { type: 'string', value: 'N', help: 'without --selection: top-scored patches shown per class', default: '8' },
      'max-sources': { type: 'string', value: 'N', help: 'source images with their score maps shown per class', default: '24' },
    },
    notes: 'Source images are re-read from the shards the store names, so those must still be where scoring found them.\nOpen <out>/index.html in a browser; the page needs no server.',
  },
  async run(args) {
    const out = required(args, 'out', 'report');
    const selection = str(args, 'selection');
    const summary = await writeReport({
      store: required(args, 'store', 'report'),
      ...(selection !== undefined ? { selection } : {}),
      out,
      topPatches: num(args, 'top-patches', { integer: true, min: 1 })!,
      maxSources: num(args, 'max-sources', { integer: true, min: 1 })!,
    });
    for (const p of summary.problems.slice(0, 10)) console.error(`warning: ${p}`);
    if (summary.problems.length > 10) console.error(`warning: ... and ${summary.problems.length - 10} more (listed at the top of the page)`);
    console.log(`report: ${resolve(summary.index)} (${summary.classes} classes, ${summary.images} images)`);
    return 0;
  },
};
