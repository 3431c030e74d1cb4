import { join, resolve } from 'node:path';
import { Classifier, loadTeacherConfig } from '../../models/classifier.js';
import { ensureToyWorld } from '../../toy/index.js';
import { selectBudgets } from '../../pipelines/distill.js';
import { relabel } from '../../pipelines/relabel.js';
import { writeReport } from '../../pipelines/report.js';
import { loadClassMap } from '../../storage/webdataset/index.js';
import type { Command } from 'commander';
import { defaults, defineCommand } from '../define.js';
import { opt } from '../options.js';
import { printScoreSummary, SCORE_OPTIONS, scoreFromOptions } from './score.js';

/**
 * The main job on the embedded default: the toy world stands in for a dataset and an SD 1.5 pack, and
 * every stage runs for real on it: score, cluster and select for IPC 1 and 10, soft labels from the toy
 * teacher, and the report.
 */
export const demoCommand = (): Command =>
  defineCommand({
    name: 'demo',
    summary: 'the whole method on the embedded toy world: score, select IPC 1 and 10, soft labels, report',
    description:
      'The whole method on the embedded toy world: score, select IPC 1 and 10, soft labels, report. Builds the toy ' +
      'pack and shards into the cache on first use (no downloads). For real data see the README.',
    options: { out: opt.out.or('ddps-demo') },
    action: (o) => demo(resolve(o.out)),
  });

async function demo(out: string): Promise<void> {
  const t0 = performance.now();
  console.log('building the toy world (first run only) ...');
  const world = await ensureToyWorld();
  const storeDir = join(out, 'store');
  console.log(`\n1/4 scoring ${world.shards.length} shards with the toy pack (Stages I-II) ...`);
  const { summary, stored } = await scoreFromOptions(
    {
      ...defaults(SCORE_OPTIONS),
      shards: world.shards.join('::'),
      model: world.pack,
      store: storeDir,
      classMap: world.classes,
      // The toy images are 128 px with 45-70 px objects; two candidates per image give IPC 10 mosaics enough supply.
      imageSize: 128,
      patchSize: 56,
      patchesPerImage: 2,
    },
    'demo',
  );
  printScoreSummary(summary, stored);

  console.log('\n2/4 clustering, ranking and selecting IPC 1 and 10 (Stages II-III, no model runs) ...');
  const budgets = await selectBudgets({ storeDir, ipcs: [1, 10], out: join(out, 'distilled'), outputSize: 224, perBudgetFolders: true });
  for (const b of budgets.budgets) console.log(`  IPC ${b.ipc}: ${b.manifest.images} images, selected in ${b.selectMs.toFixed(1)} ms -> ${b.dir}`);

  console.log('\n3/4 soft labels from the toy teacher (Stage IV) ...');
  const classes = await loadClassMap(world.classes);
  const teacher = await Classifier.load(world.teacher, await loadTeacherConfig(world.teacherConfig));
  const labelled: string[] = [];
  try {
    for (const b of budgets.budgets) {
      const dir = join(out, `ipc${b.ipc}`);
      const r = await relabel({ inDir: b.dir, outDir: dir, teacher, classCount: classes.names.length, temperature: 4 });
      labelled.push(dir);
      console.log(`  IPC ${b.ipc}: ${r.images} images with soft labels, teacher agrees with the label on ${((100 * r.agree) / Math.max(r.labelled, 1)).toFixed(0)} % -> ${dir}`);
    }
  } finally {
    await teacher.close();
  }

  console.log('\n4/4 writing the report ...');
  const report = await writeReport({ store: storeDir, selection: join(out, 'distilled', 'ipc10'), out: join(out, 'report') });
  const seconds = (performance.now() - t0) / 1000;
  console.log(`\ndone in ${seconds.toFixed(1)} s.`);
  console.log(`  distilled datasets (WebDataset shards + manifest.json, soft labels in <key>.soft.json):`);
  for (const d of labelled) console.log(`    ${d}`);
  console.log(`  score store:  ${storeDir}    (ddps inspect --store ${storeDir})`);
  console.log(`  report:       ${report.index}    (open it in a browser)`);
}
