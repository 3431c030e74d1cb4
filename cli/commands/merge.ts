import { mergeStores } from '../../storage/store/index.js';
import { flag, required } from '../args.js';
import type { Command } from '../command.js';

export const merge: Command = {
  spec: {
    name: 'merge',
    summary: 'merge score stores scored apart into one (same configuration and pack only; idempotent)',
    usage: 'ddps merge --into <dir> <store> [<store> ...]',
    options: {
      into: { type: 'string', value: '<dir>', help: 'the store to merge into (created when new)' },
      json: { type: 'boolean', help: 'print the summary as one JSON object' },
    },
    notes: 'Samples are keyed by their key: one scored anywhere is scored in the result, and merging again changes\nnothing. Stores of another configuration or pack are refused, naming what differs. Clusters are not\ncopied: run ddps select on the merged store.',
  },
  async run(args) {
    const summary = await mergeStores(required(args, 'into', 'merge'), args.positionals);
    if (flag(args, 'json')) console.log(JSON.stringify(summary));
    else {
      for (const s of summary.sources) console.log(`${s.dir}: ${s.scored} scored, ${s.skipped} skipped samples merged`);
      console.log(`${summary.into} now holds ${summary.samples} samples`);
    }
    return 0;
  },
};
