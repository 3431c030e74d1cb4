import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DdpsError } from '../../core/errors.js';
import { ClipTokenizer } from '../../models/tokenizer.js';
import { required, str } from '../args.js';
import type { Command } from '../command.js';

export const tokenize: Command = {
  spec: {
    name: 'tokenize',
    summary: "print the 77 CLIP token ids the pack's tokenizer gives each prompt (one JSON array per line)",
    usage: 'ddps tokenize --model <pack> [--file prompts.txt] [text ...]',
    options: {
      model: { type: 'string', value: '<pack>', help: 'model pack folder (its tokenizer/ is used)' },
      file: { type: 'string', value: '<file>', help: 'read prompts from a file, one per line' },
    },
  },
  async run(args) {
    const pack = required(args, 'model', 'tokenize');
    const file = str(args, 'file');
    const prompts = [...(file ? readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.length > 0) : []), ...args.positionals];
    if (prompts.length === 0) throw new DdpsError('BAD_ARGUMENT', 'ddps tokenize: give prompts as arguments or with --file');
    const tok = await ClipTokenizer.fromDir(join(pack, 'tokenizer'));
    for (const p of prompts) console.log(JSON.stringify(tok.encode(p)));
    return 0;
  },
};
