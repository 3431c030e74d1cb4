import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DdpsError } from '../../core/errors.js';
import { ClipTokenizer } from '../../models/tokenizer.js';
import { defineCommand } from '../define.js';
import { opt } from '../options.js';

export const tokenizeCommand = (): Command =>
  defineCommand({
    name: 'tokenize',
    summary: "print the 77 CLIP token ids the pack's tokenizer gives each prompt (one JSON array per line)",
    args: [['[text...]', 'prompts']],
    options: { model: opt.model.required(), file: opt.file },
    async action(o, texts) {
      const prompts = [...(o.file ? readFileSync(o.file, 'utf8').split(/\r?\n/).filter((l) => l.length > 0) : []), ...texts];
      if (prompts.length === 0) throw new DdpsError('BAD_ARGUMENT', 'give prompts as arguments or with --file');
      const tok = await ClipTokenizer.fromDir(join(o.model, 'tokenizer'));
      for (const p of prompts) console.log(JSON.stringify(tok.encode(p)));
    },
  });
