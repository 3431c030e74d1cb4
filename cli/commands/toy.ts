import { resolve } from 'node:path';
import { ensureToyWorld } from '../../toy/index.js';
import { flag, num, str } from '../args.js';
import type { Command } from '../command.js';

export const toy: Command = {
  spec: {
    name: 'toy',
    summary: 'build the toy model pack and synthetic shards (the embedded default; no downloads)',
    usage: 'ddps toy [--out <dir>] [--per-class N] [--shards N] [--seed N] [--force]',
    options: {
      out: { type: 'string', value: '<dir>', help: 'where to build (default: the cache, ~/.cache/ddps/toy-v<version>)' },
      'per-class': { type: 'string', value: 'N', help: 'synthetic images per class', default: '24' },
      shards: { type: 'string', value: 'N', help: 'number of shards', default: '2' },
      seed: { type: 'string', value: 'N', help: 'generator seed', default: '0' },
      force: { type: 'boolean', help: 'rebuild even if an up-to-date build exists' },
    },
    notes: 'The toy pack has the SD 1.5 ONNX layout with a planted signal: its conditional UNet denoises exactly where\nthe image shows the prompt\'s object, so the pipeline must find the objects.',
  },
  async run(args) {
    const out = str(args, 'out');
    const world = await ensureToyWorld({
      ...(out ? { dir: resolve(out) } : {}),
      perClass: num(args, 'per-class', { integer: true, min: 1 })!,
      shards: num(args, 'shards', { integer: true, min: 1 })!,
      seed: num(args, 'seed', { integer: true })!,
      force: flag(args, 'force'),
    });
    console.log(`toy pack:    ${world.pack}`);
    console.log(`toy shards:  ${world.shards.join(' ')}`);
    console.log(`classes:     ${world.classes}`);
    console.log(`teacher:     ${world.teacher} (config ${world.teacherConfig})`);
    return 0;
  },
};
