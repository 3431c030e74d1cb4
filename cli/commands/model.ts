import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DdpsError } from '../../core/errors.js';
import { Pack, diftUnetPath, ensureDiftUnet, resolveLayout, packDigest } from '../../models/pack.js';
import type { TensorInfo } from '../../models/runtime.js';
import { flag, str } from '../args.js';
import type { Command } from '../command.js';

function fmt(t: TensorInfo): string {
  return `${t.name}: ${t.dtype} [${(t.shape ?? ['?']).join(', ')}]`;
}

export const modelCheck: Command = {
  spec: {
    name: 'model check',
    summary: 'load an SD 1.5 ONNX pack and report what was found, or exactly what is wrong',
    usage: 'ddps model check <pack> [--json]',
    options: { json: { type: 'boolean', help: 'print one JSON object instead of text' } },
    notes: 'A pack is a folder in the diffusers/Optimum layout: text_encoder/, unet/, vae_encoder/, tokenizer/, scheduler/.',
  },
  async run(args) {
    const dir = args.positionals[0];
    if (!dir) throw new DdpsError('BAD_ARGUMENT', 'ddps model check: give the pack folder, e.g. ddps model check ./sd15-onnx');
    const json = flag(args, 'json');
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
      return 0;
    } catch (e) {
      if (!json || !(e instanceof DdpsError)) throw e;
      console.log(JSON.stringify({ ok: false, code: e.code, file: e.file, error: e.message }, null, 2));
      return 1;
    }
  },
};

export const modelDift: Command = {
  spec: {
    name: 'model dift',
    summary: "write the DIFT-tapped UNet (up_blocks.1's output as an extra output 'dift')",
    usage: 'ddps model dift <pack> [--tensor <name>] [--out <file>]',
    options: {
      tensor: { type: 'string', value: '<name>', help: "tap this tensor instead of the last '/up_blocks.1/' node's output" },
      out: { type: 'string', value: '<file>', help: 'where to write (default: unet/model.dift.onnx, or the cache when the pack is read-only)' },
    },
  },
  async run(args) {
    const dir = args.positionals[0];
    if (!dir) throw new DdpsError('BAD_ARGUMENT', 'ddps model dift: give the pack folder');
    const layout = resolveLayout(dir);
    const tensor = str(args, 'tensor');
    const out = str(args, 'out') ?? diftUnetPath(layout, packDigest(dir));
    const existed = existsSync(out) && tensor === undefined;
    await ensureDiftUnet(layout, out, tensor);
    console.log(existed ? `${out} already exists (delete it, or name --tensor, to write it again)` : `wrote ${out}`);
    return 0;
  },
};
