import type { Command } from 'commander';
import { mergeStores } from '../../storage/store/index.js';
import { defineCommand } from '../define.js';
import { opt } from '../options.js';

export const mergeCommand = (): Command =>
  defineCommand({
    name: 'merge',
    summary: 'merge score stores scored apart into one (same configuration and pack only; idempotent)',
    description:
      'Merge score stores scored apart into one.\n\n' +
      'Samples are keyed by their key: one scored anywhere is scored in the result, and merging again changes ' +
      'nothing. Stores of another configuration or pack are refused, naming what differs. Clusters are not ' +
      'copied: run ddps select on the merged store.',
    args: [['<stores...>', 'the score stores to merge from']],
    options: { into: opt.into.required(), json: opt.json },
    async action(o, stores) {
      const summary = await mergeStores(o.into, stores);
      if (o.json) console.log(JSON.stringify(summary));
      else {
        for (const s of summary.sources) console.log(`${s.dir}: ${s.scored} scored, ${s.skipped} skipped samples merged`);
        console.log(`${summary.into} now holds ${summary.samples} samples`);
      }
    },
  });
