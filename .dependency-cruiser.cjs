/**
 * The layers import downward only:
 *   core (shared vocabulary: errors, configuration, geometry) <- storage, models <- operators <- pipelines <- cli
 * toy (the embedded toy world) sits beside pipelines: it builds packs and shards with models and storage.
 * `npm test` runs this check, so a change cannot quietly break it.
 */
const layer = (name, allowed) => ({
  name: `${name}-imports-downward`,
  severity: 'error',
  comment: `${name}/ may import only ${allowed.length ? allowed.join(', ') : 'nothing else of ddps'}`,
  from: { path: `^${name}/` },
  to: { path: '^(core|storage|models|operators|pipelines|toy|cli|examples|scripts|test)/', pathNot: [`^${name}/`, ...allowed.map((a) => `^${a}/`)] },
});

module.exports = {
  forbidden: [
    layer('core', []),
    layer('storage', ['core']),
    layer('models', ['core']),
    layer('operators', ['core', 'storage', 'models']),
    layer('pipelines', ['core', 'storage', 'models', 'operators']),
    layer('toy', ['core', 'storage', 'models']),
    layer('cli', ['core', 'storage', 'models', 'operators', 'pipelines', 'toy']),
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
