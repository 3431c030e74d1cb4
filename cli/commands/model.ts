import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DdpsError } from '../../core/errors.js';
import { Pack, diftUnetPath, ensureDiftUnet, resolveLayout, packDigest } from '../../models/pack.js';
import type { TensorInfo } from '../../models/runtime.js';
import { defineCommand, defineGroup } from '../define.js';
import { opt } from '../options.js';
import { classifyCommand } from './modelClassify.js';
import { trainCommand } from './modelTrain.js';

function fmt(t: TensorInfo): string {
  return `${t.name}: ${t.dtype} [${(t.shape ?? ['?']).join(', ')}]`;
}

const PACK_ARG = [['<pack>', 'model pack folder: text_encoder/, unet/, vae_encoder/, tokenizer/, scheduler/ (diffusers/Optimum layout)']] as const;

const checkCommand = (): Command =>
  defineCommand({
    name: 'check',
    summary: 'load an SD 1.5 ONNX pack and report what was found, or exactly what is wrong',
    args: PACK_ARG,
    options: { json: opt.json },
    action: (o, [dir]) => check(dir!, o.json === true),
  });

/** Exit code 1 when --json reports a bad pack (the error is in the JSON). */
async function check(dir: string, json: boolean): Promise<number> {
  try {
    const pack = await Pack.load(dir, { intraOpThreads: 1 });
    const models = pack.models;
    const report = {
      ok: true,
      dir: resolve(dir),
      digest: pack.digest,
      models,
      conventions: pack.conventions,
      tokenizer: { bos: pack.tokenizer.bosId, eos: pack.tokenizer.eosId, vocabSize: pack.tokenizer.vocabSize },
      schedule: { steps: pack.alphabar.length, alphabar0: pack.alphabar[0], alphabarLast: pack.alphabar[pack.alphabar.length - 1] },
    };
    await pack.close();
    if (json) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      const c = report.conventions;
      console.log(`pack ${report.dir} (digest ${report.digest})`);
      for (const [k, m] of Object.entries(models)) {
        console.log(`  ${k}: ${m.path}`);
        for (const i of m.inputs) console.log(`    in  ${fmt(i)}`);
        for (const o of m.outputs) console.log(`    out ${fmt(o)}`);
      }
      console.log('conventions:');
      console.log(`  input_ids ${c.inputIds.dtype}, text hidden size ${c.textHidden.size ?? '?'} (${c.textHidden.dtype})`);
      console.log(`  timestep ${c.unet.timestepType.dtype} ${c.unet.timestepType.scalar ? 'scalar (one t per call)' : '[batch]'}`);
      console.log(`  UNet I/O ${c.unet.sampleDtype} -> ${c.unet.outputDtype}; VAE ${c.vae.output} (${c.vae.kind === 'latent_parameters' ? 'posterior mean used' : 'random draw: non-deterministic'}), scaling ${c.scalingFactor}`);
      console.log(`  tokenizer bos ${report.tokenizer.bos} eos ${report.tokenizer.eos}, ${report.tokenizer.vocabSize} tokens; schedule ${report.schedule.steps} steps`);
    }
  } catch (e) {
    if (!json || !(e instanceof DdpsError)) throw e;
    console.log(JSON.stringify({ ok: false, code: e.code, file: e.file, error: e.message }, null, 2));
    return 1;
  }
  return 0;
}

const diftCommand = (): Command =>
  defineCommand({
    name: 'dift',
    summary: "write the DIFT-tapped UNet (up_blocks.1's output as an extra output 'dift')",
    args: PACK_ARG,
    options: {
      tensor: opt.tensor,
      out: opt.out.defaultShownAs('unet/model.dift.onnx, or the cache when the pack is read-only'),
    },
    async action(o, [dir]) {
      const layout = resolveLayout(dir!);
      const out = o.out ?? diftUnetPath(layout, packDigest(dir!));
      const existed = existsSync(out) && o.tensor === undefined;
      await ensureDiftUnet(layout, out, o.tensor);
      console.log(existed ? `${out} already exists (delete it, or name --tensor, to write it again)` : `wrote ${out}`);
    },
  });

export const modelCommand = (): Command =>
  defineGroup('model', 'what a model pack is (check); write its DIFT-tapped UNet (dift); train a small pack (train); test its conditional signal (classify)', [
    checkCommand(),
    diftCommand(),
    trainCommand(),
    classifyCommand(),
  ]);
