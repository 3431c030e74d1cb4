/**
 * ddps as a user gets it: `npm pack`, the tarball installed into an empty project outside the
 * checkout (offline, from npm's cache, with the allowScripts the README tells users to set), and a
 * user's script run there: examples/customPipeline, which composes a scoring pipeline on the toy
 * world with its own operators spliced in and selects from the store, type-checked against the
 * installed package's declarations.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO, tempDir } from './helpers/paths.js';

const run = promisify(execFile);

interface Manifest {
  version: string;
  license: string;
  dependencies: Record<string, string>;
  bin: Record<string, string>;
  engines: Record<string, string>;
  allowScripts: Record<string, boolean>;
}

/** The user's package.json and a lockfile pinning ddps's dependencies as the checkout resolved them, so npm ci needs no registry. */
function writeProject(dir: string, tarball: string): void {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Manifest;
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const dependencies = { ddps: `file:${tarball}`, rxjs: pkg.dependencies.rxjs! };
  const integrity = `sha512-${createHash('sha512').update(readFileSync(join(dir, tarball))).digest('base64')}`;
  const packages: Record<string, unknown> = {
    '': { name: 'ddps-user', version: '1.0.0', dependencies },
    'node_modules/ddps': { version: pkg.version, resolved: `file:${tarball}`, integrity, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && !entry.dev) packages[path] = entry;
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'ddps-user', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));
  // What the README tells a user to put in their own package.json.
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'ddps-user', version: '1.0.0', private: true, type: 'module', dependencies, allowScripts: pkg.allowScripts }, null, 2));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(REPO, 'node_modules/@types')] },
      files: ['pipeline.ts'],
    }),
  );
}

test('the packed tarball installs offline into an empty project, and a user script composes, scores and selects with it', async (t) => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Manifest;
  t.true(readme.includes(JSON.stringify(pkg.allowScripts)), 'the README gives users the allowScripts this project uses');

  const dir = tempDir('ddps-user-');
  // dist/ is built by `npm test` (tsc) before the tests run; prepare would build it again.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: REPO });
  const [{ filename, files }] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
  const paths = files.map((f) => f.path);
  for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/operators/index.d.ts', 'dist/storage/index.js', 'dist/cli/ddps.js', 'python/ddps_eval/__main__.py', 'README.md']) t.true(paths.includes(p), p);
  t.deepEqual(paths.filter((p) => /^dist\/(test|examples|scripts)\/|\.map$|__pycache__|(?<!\.d)\.ts$/.test(p)), []);

  writeProject(dir, filename);
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: 'false' };
  // No ONNXRUNTIME_NODE_INSTALL: allowScripts alone keeps onnxruntime-node from downloading CUDA libraries.
  delete env.ONNXRUNTIME_NODE_INSTALL;
  const install = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: dir, env, maxBuffer: 64 << 20 });
  const warnings = `${install.stdout}\n${install.stderr}`.split('\n').filter((l) => /warn/i.test(l) && /config|install-scripts|allowScripts/.test(l));
  t.deepEqual(warnings, [], 'npm warns about nothing in the install policy');
  t.true(existsSync(join(dir, 'node_modules/hnswlib-node/build/Release/addon.node')), 'hnswlib-node was built (approved)');
  const ortBin = join(dir, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64');
  if (existsSync(ortBin)) t.false(readdirSync(ortBin).some((f) => f.includes('providers_cuda')), 'onnxruntime-node downloaded nothing (denied)');

  const resolved = await run(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('ddps'))"], { cwd: dir });
  t.is(resolved.stdout.trim(), `file://${join(dir, 'node_modules/ddps/dist/index.js')}`, 'ddps resolves to the installed copy, not the checkout');
  t.true(existsSync(join(dir, 'node_modules/ddps/python/ddps_eval/__main__.py')));

  // The user's script: the README's example, as TypeScript against the installed types and as the compiled JavaScript.
  copyFileSync(join(REPO, 'examples/customPipeline.ts'), join(dir, 'pipeline.ts'));
  copyFileSync(join(REPO, 'dist/examples/customPipeline.js'), join(dir, 'pipeline.js'));
  await t.notThrowsAsync(run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir }), 'the script type-checks against the installed declarations');
  const out = await run(process.execPath, ['pipeline.js'], { cwd: dir, env: { ...env, DDPS_CACHE: tempDir('ddps-user-cache-') } });
  const result = JSON.parse(out.stdout) as { stored: number; dropped: number; samples: number; selected: { cls: number; patches: number; needed: number }[] };
  t.is(result.stored + result.dropped, 144, 'the toy world has 144 samples; each was stored or dropped by the user filter');
  t.true(result.dropped > 0 && result.stored > 0);
  t.is(result.samples, result.stored);
  t.deepEqual(result.selected.map((s) => s.cls), [0, 1, 2, 3, 4, 5]);
  t.true(result.selected.every((s) => s.needed === 8 && s.patches > 0 && s.patches <= 8));

  const help = await run(join(dir, 'node_modules/.bin/ddps'), ['--help'], { cwd: dir });
  t.regex(help.stdout, /Usage: ddps \[options\] \[command\]/);
  t.regex(help.stdout, /\bscore\b.*Stages I-II/);
});
