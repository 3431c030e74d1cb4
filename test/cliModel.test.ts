/** `ddps model check` and `ddps model dift` as a user runs them. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxModel } from '../models/runtime.js';
import { REPO, TINY_SD, tempDir } from './helpers/paths.js';
import { needs } from './helpers/needs.js';

const ddps = (...args: string[]) => execFileSync(process.execPath, [join(REPO, 'dist/cli/ddps.js'), ...args], { encoding: 'utf8', env: { ...process.env, DDPS_CACHE: tempDir('ddps-cache-') } });

needs('shared')('model check --json reports each model once with the conventions it read', (t) => {
  const r = JSON.parse(ddps('model', 'check', TINY_SD, '--json'));
  t.true(r.ok);
  t.deepEqual(Object.keys(r.models), ['text_encoder', 'unet', 'vae_encoder']);
  t.deepEqual(r.models.unet.inputs.map((i: { name: string }) => i.name), ['sample', 'timestep', 'encoder_hidden_states']);
  t.deepEqual(r.conventions.unet.timestepType, { dtype: 'float32', scalar: true });
  t.is(r.tokenizer.bos, 49406);
});

needs('shared')('model dift --tensor --out elsewhere writes a UNet that loads, its external weights linked beside it', async (t) => {
  const out = join(tempDir(), 'tapped', 'unet.dift.onnx');
  const said = ddps('model', 'dift', TINY_SD, '--tensor', '/up_blocks.0/upsamplers.0/conv/Conv_output_0', '--out', out);
  t.regex(said, /wrote /);
  t.true(existsSync(join(out, '..', 'model.onnx_data')));
  const m = await OnnxModel.load(out, { intraOpThreads: 1 });
  t.deepEqual(m.outputs.map((o) => o.name), ['out_sample', 'dift']);
  await m.release();
  t.false(existsSync(join(TINY_SD, 'unet/model.dift.onnx')));
});
