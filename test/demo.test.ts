/** The README's main command on the embedded default, end to end, checked by what it wrote. */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSamples } from '../storage/webdataset/index.js';
import { REPO, tempDir } from './helpers/paths.js';

test('ddps demo: IPC 1 and 10 distilled from the toy world, with soft labels and a report', async (t) => {
  const out = tempDir('ddps-demo-');
  const stdout = execFileSync(process.execPath, [join(REPO, 'dist/cli/ddps.js'), 'demo', '--out', out], {
    encoding: 'utf8',
    env: { ...process.env, DDPS_CACHE: tempDir('ddps-cache-') },
  });
  t.regex(stdout, /report: .*index\.html/);
  for (const [ipc, images] of [[1, 6], [10, 60]] as const) {
    const manifest = JSON.parse(readFileSync(join(out, `ipc${ipc}`, 'manifest.json'), 'utf8'));
    t.is(manifest.images, images);
    t.true(manifest.mosaic);
    const keys: string[] = [];
    for await (const s of readSamples(join(out, `ipc${ipc}`, manifest.shards[0]))) {
      keys.push(s.__key__);
      const soft = JSON.parse(String(s['soft.json']));
      t.is(soft.probs.length, 6);
      // The toy teacher recognises the distilled patches of the toy objects.
      t.is(soft.probs.indexOf(Math.max(...soft.probs)), Number(String(s.cls)));
    }
    t.is(keys.length, images);
  }
  t.true(existsSync(join(out, 'report', 'index.html')));
});
