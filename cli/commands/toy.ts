import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ensureToyWorld } from '../../toy/index.js';
import { defineCommand, renamed } from '../define.js';
import { opt } from '../options.js';

export const toyCommand = (): Command =>
  defineCommand({
    name: 'toy',
    summary: 'build the toy model pack and synthetic shards (the embedded default; no downloads)',
    description:
      'Build the toy model pack and synthetic shards (the embedded default; no downloads). The toy pack has the ' +
      "SD 1.5 ONNX layout with a planted signal: its conditional UNet denoises exactly where the image shows the " +
      "prompt's object, so the pipeline must find the objects.",
    options: {
      perClass: opt.perClass,
      shardCount: opt.shardCount,
      toySeed: opt.toySeed,
      force: opt.force,
      out: opt.out.defaultShownAs('the cache, ~/.cache/ddps/toy-v<version>'),
    },
    adjust: [renamed('--seed <n>', ['toySeed']), renamed('--shards <n>', ['shardCount'])],
    async action(o) {
      const world = await ensureToyWorld({
        ...(o.out ? { dir: resolve(o.out) } : {}),
        perClass: o.perClass,
        shards: o.shardCount,
        seed: o.toySeed,
        force: o.force === true,
      });
      console.log(`toy pack:    ${world.pack}`);
      console.log(`toy shards:  ${world.shards.join(' ')}`);
      console.log(`classes:     ${world.classes}`);
      console.log(`teacher:     ${world.teacher} (config ${world.teacherConfig})`);
    },
  });
