/**
 * The public API is what a user imports from 'ddps': every method stage under the method's name, the
 * pipelines, the store, the pack loader, the WebDataset reader and writer, each with TSDoc.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { REPO } from './helpers/paths.js';

const ENTRY_POINTS = ['index.ts', 'core/index.ts', 'storage/index.ts', 'models/index.ts', 'operators/index.ts', 'pipelines/index.ts', 'toy/index.ts', 'queue/index.ts'];

/** Name -> whether its declaration carries a doc comment, for each entry point. */
function exportsOf(): Map<string, Map<string, boolean>> {
  const program = ts.createProgram(
    ENTRY_POINTS.map((f) => join(REPO, f)),
    { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, skipLibCheck: true, noEmit: true },
  );
  const checker = program.getTypeChecker();
  const out = new Map<string, Map<string, boolean>>();
  for (const entry of ENTRY_POINTS) {
    const file = program.getSourceFile(join(REPO, entry))!;
    const names = new Map<string, boolean>();
    for (const sym of checker.getExportsOfModule(checker.getSymbolAtLocation(file)!)) {
      const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
      names.set(sym.name, ts.displayPartsToString(target.getDocumentationComment(checker)).trim().length > 0);
    }
    out.set(entry, names);
  }
  return out;
}

const api = exportsOf();

test("every method stage, pipeline, the store, the pack loader and the WebDataset reader and writer are exported from 'ddps'", (t) => {
  const root = api.get('index.ts')!;
  const expected = [
    // Stages 0-II, in the method's order
    'readShards', 'decode', 'resize', 'batch', 'encodeLatent', 'lossDiff', 'patchScore', 'dift', 'toStore',
    // Stages II-IV
    'cluster', 'rank', 'rankClass', 'select', 'concat', 'writeDistilled', 'writeShards', 'relabel',
    // baselines in Stage I's place
    'randomPatches', 'classifierScore',
    // pipelines
    'scoreSamples', 'runScore', 'rankStore', 'updateRanks', 'selectFromStore', 'selectBudgets', 'materialize', 'relabelShards', 'writeReport',
    // storage, models, flow control, the toy world
    'ScoreStore', 'storeDigest', 'mergeStores', 'readSamples', 'ShardWriter', 'loadClassMap', 'Pack', 'PackPool', 'Classifier', 'Flow', 'mapOrdered', 'ensureToyWorld', 'DdpsError', 'resolveScoreConfig',
    // more than one machine
    'submitRun', 'runWorker', 'queueStatus', 'retryFailed', 'drainQueue', 'ShardQueue', 'parseQueueUrl',
    // types
    'RawSample', 'Decoded', 'Prepared', 'Encoded', 'Scored', 'Patched', 'Featured', 'ScoreConfig', 'DiffusionModel', 'WdsSample', 'SampleToWrite', 'ClassSelection', 'StoredSummary',
  ];
  const missing = expected.filter((name) => !root.has(name));
  t.deepEqual(missing, []);
});

test('each layer entry point is part of the root, and every export carries TSDoc', (t) => {
  const root = api.get('index.ts')!;
  for (const [entry, names] of api) {
    if (entry === 'index.ts') continue;
    t.deepEqual([...names.keys()].filter((n) => !root.has(n)), [], `${entry} exports what the root does not`);
  }
  const undocumented = [...root].filter(([, documented]) => !documented).map(([name]) => name);
  t.deepEqual(undocumented, [], 'exports without a doc comment');
});

test('package.json: typed entry points for the root and each layer, files carry the library, the CLI and python/, not the tests', (t) => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }>; files: string[]; bin: Record<string, string> };
  for (const entry of ENTRY_POINTS) {
    const sub = entry === 'index.ts' ? '.' : `./${entry.replace(/\/index\.ts$/, '')}`;
    t.deepEqual(pkg.exports[sub], { types: `./dist/${entry.replace(/\.ts$/, '.d.ts')}`, default: `./dist/${entry.replace(/\.ts$/, '.js')}` }, sub);
  }
  t.true(pkg.files.includes('python/'));
  t.true(pkg.files.includes('dist/cli/'));
  t.false(pkg.files.some((f) => /test|examples|scripts/.test(f)));
  t.is(pkg.bin.ddps, 'dist/cli/ddps.js');
});
