import { join } from 'node:path';
import { selectBudgets } from '../../pipelines/distill.js';
import { flag, required } from '../args.js';
import type { Command } from '../command.js';
import { printScoreSummary, scoreFromArgs, SCORE_OPTIONS } from './score.js';
import { budgetsFromArgs, printBudgets, SELECT_OPTIONS } from './select.js';

export const distill: Command = {
  spec: {
    name: 'distill',
    summary: 'score + select in one go, for several budgets (one folder <out>/ipc<N>/ each)',
    usage: 'ddps distill --shards <pattern> --model <pack> --out <dir> [--store <dir>] --ipc 1,10,50 [options]',
    options: { ...SCORE_OPTIONS, store: { type: 'string', value: '<dir>', help: 'score store (default: <out>/store)' }, ...SELECT_OPTIONS },
    notes: 'One scoring pass serves every budget and class subset; re-running resumes scoring and only re-selects.',
  },
  async run(args) {
    const out = required(args, 'out', 'distill');
    const storeDir = (args.values.store as string | undefined) ?? join(out, 'store');
    args.values.store = storeDir;
    const { summary, classMap, stored } = await scoreFromArgs(args, 'distill');
    if (!flag(args, 'json')) printScoreSummary(summary, stored);
    const result = await selectBudgets({ ...budgetsFromArgs(args, 'distill', storeDir, classMap.names), perBudgetFolders: true });
    printBudgets(result);
    return 0;
  },
};
