/**
 * The layers import downward only:
 *   core (shared vocabulary: errors, configuration, geometry) <- storage, models <- operators <- pipelines <- cli
 * toy (the embedded toy world) sits beside pipelines: it builds packs and shards with models and storage.
 * queue (scale-out over BullMQ: submit, work, status) sits above pipelines and below cli.
 * index.ts (the package root, 'ddps') re-exports each layer's index.ts and nothing imports it back;
 * examples are written as a user writes them: they import the package 'ddps', never a path.
 * `npm test` runs this check, so a change cannot quietly break it.
 */
const layer = (name, allowed) => ({
  name: `${name}-imports-downward`,
  severity: 'error',
  comment: `${name}/ may import only ${allowed.length ? allowed.join(', ') : 'nothing else of ddps'}`,
  from: { path: `^${name}/` },
  to: { path: '^(core|storage|models|operators|pipelines|toy|queue|cli|examples|scripts|test)/', pathNot: [`^${name}/`, ...allowed.map((a) => `^${a}/`)] },
});

module.exports = {
  forbidden: [
    layer('core', []),
    layer('storage', ['core']),
    layer('models', ['core']),
    layer('operators', ['core', 'storage', 'models']),
    layer('pipelines', ['core', 'storage', 'models', 'operators']),
    layer('toy', ['core', 'storage', 'models']),
    layer('queue', ['core', 'storage', 'models', 'operators', 'pipelines']),
    layer('cli', ['core', 'storage', 'models', 'operators', 'pipelines', 'toy', 'queue']),
    {
      name: 'root-index-is-the-top',
      severity: 'error',
      comment: 'index.ts is what a user imports as ddps; a module of ddps importing it would import itself',
      from: { pathNot: '^index\\.ts$' },
      to: { path: '^index\\.ts$' },
    },
    {
      name: 'examples-import-the-package',
      severity: 'error',
      comment: "examples import 'ddps' (and rxjs, node:*) as a user would, never a module of the repo by path",
      from: { path: '^examples/' },
      to: { dependencyTypes: ['local', 'localmodule', 'aliased'] },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'not-to-test', severity: 'error', from: { pathNot: '^test/' }, to: { path: '^test/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
