import { join } from 'node:path';
import type { Command } from 'commander';
import { selectBudgets } from '../../pipelines/distill.js';
import { defineCommand, renamed } from '../define.js';
import { classMapSpelledClasses, opt } from '../options.js';
import { printScoreSummary, SCORE_OPTIONS, scoreFromOptions } from './score.js';
import { budgetsFrom, printBudgets, SELECT_OPTIONS } from './select.js';

export const distillCommand = (): Command =>
  defineCommand({
    name: 'distill',
    summary: 'score + select in one go, for several budgets (one folder <out>/ipc<N>/ each)',
    description:
      'Score the shards into a store (Stages I-II), then cluster, rank and select every budget from it ' +
      '(Stages II-III), one folder <out>/ipc<N>/ each. One scoring pass serves every budget and class subset; ' +
      're-running resumes scoring and only re-selects.',
    options: { ...SCORE_OPTIONS, store: opt.store.defaultShownAs('<out>/store'), ...SELECT_OPTIONS },
    // distill once took --seed for both seeds, and --classes for the class-map file.
    adjust: [renamed('--seed <n>', ['noiseSeed', 'clusterSeed']), classMapSpelledClasses],
    async action(o) {
      const store = o.store ?? join(o.out, 'store');
      const { summary, classMap, stored } = await scoreFromOptions({ ...o, store }, 'distill');
      if (!o.json) printScoreSummary(summary, stored);
      const result = await selectBudgets({ ...budgetsFrom(o, store, classMap.names), perBudgetFolders: true });
      printBudgets(result);
    },
  });
