#!/usr/bin/env node
/**
 * The `ddps` command: one entry point, one file per command group under cli/commands/.
 */
import { isDdpsError } from '../core/errors.js';
import { helpText, parseCommand } from './args.js';
import type { Command } from './command.js';
import { modelCheck, modelClassify, modelDift, modelTrain } from './commands/model.js';
import { demo } from './commands/demo.js';
import { distill } from './commands/distill.js';
import { inspect } from './commands/inspect.js';
import { relabel } from './commands/relabel.js';
import { report } from './commands/report.js';
import { score } from './commands/score.js';
import { select } from './commands/select.js';
import { tokenize } from './commands/tokenize.js';
import { toy } from './commands/toy.js';

const COMMANDS: Command[] = [demo, distill, score, select, relabel, report, inspect, modelCheck, modelDift, modelTrain, modelClassify, tokenize, toy];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length)) + 2;
  return [
    'ddps — distil an image dataset by letting a diffusion model pick the most class-relevant patches',
    '',
    'Usage: ddps <command> [options]      ddps <command> --help',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.summary}`),
    '',
  ].join('\n');
}

/** Longest command name that prefixes argv ("model check" before "model"). */
function findCommand(argv: string[]): [Command, string[]] | undefined {
  const sorted = [...COMMANDS].sort((a, b) => b.spec.name.split(' ').length - a.spec.name.split(' ').length);
  for (const c of sorted) {
    const words = c.spec.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return [c, argv.slice(words.length)];
  }
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(mainHelp());
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    process.stderr.write(`ddps: unknown command '${argv.join(' ')}'\n\n${mainHelp()}`);
    return 2;
  }
  const [cmd, rest] = found;
  try {
    const parsed = parseCommand(cmd.spec, rest);
    if (parsed.values.help) {
      process.stdout.write(helpText(cmd.spec));
      return 0;
    }
    return await cmd.run(parsed);
  } catch (e) {
    if (isDdpsError(e)) {
      process.stderr.write(`ddps ${cmd.spec.name}: ${e.message}\n`);
      return e.code === 'BAD_ARGUMENT' ? 2 : 1;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`ddps: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
