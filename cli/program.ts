/**
 * The `ddps` program: every command, and what becomes of an error. `runCli(argv)` runs one command
 * line in this process and resolves to its exit code: 0, 1 for a failure (the message names the file
 * or sample), 2 for a command line that cannot be run (unknown option, bad value, missing option).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isDdpsError } from '../core/errors.js';
import { demoCommand } from './commands/demo.js';
import { distillCommand } from './commands/distill.js';
import { evaluateCommand } from './commands/evaluate.js';
import { inspectCommand } from './commands/inspect.js';
import { mergeCommand } from './commands/merge.js';
import { modelCommand } from './commands/model.js';
import { queueCommand } from './commands/queue.js';
import { relabelCommand } from './commands/relabel.js';
import { reportCommand } from './commands/report.js';
import { scoreCommand } from './commands/score.js';
import { selectCommand } from './commands/select.js';
import { tokenizeCommand } from './commands/tokenize.js';
import { toyCommand } from './commands/toy.js';
import { workerCommand } from './commands/worker.js';
import { commandPath, EXIT_REPORTED } from './define.js';

/** Every command, in the order `ddps --help` lists them. A new command is one line here. */
const COMMANDS: Array<() => Command> = [
  demoCommand,
  distillCommand,
  scoreCommand,
  selectCommand,
  relabelCommand,
  evaluateCommand,
  reportCommand,
  inspectCommand,
  mergeCommand,
  workerCommand,
  queueCommand,
  modelCommand,
  tokenizeCommand,
  toyCommand,
];

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Errors thrown instead of exiting, printed under the command's name, with a pointer to its --help. */
function configure(cmd: Command): void {
  cmd
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`ddps${commandPath(cmd) ? ` ${commandPath(cmd)}` : ''}: ${text.replace(/^error: /, '')}`) })
    .showHelpAfterError(`(see: ddps ${commandPath(cmd) ? `${commandPath(cmd)} ` : ''}--help)`);
  for (const sub of cmd.commands) configure(sub);
}

export function buildProgram(): Command {
  const program = new Command('ddps')
    .description('ddps: distil an image dataset by letting a diffusion model pick the most class-relevant patches')
    .version(VERSION)
    .showSuggestionAfterError();
  for (const make of COMMANDS) program.addCommand(make());
  configure(program);
  return program;
}

/** Exit code of a usage error: the command line, not the data, is wrong. */
const USAGE = 2;

export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length === 0) {
    program.outputHelp();
    return 0;
  }
  let running = '';
  program.hook('preAction', (_program, action) => {
    running = ` ${commandPath(action)}`;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === EXIT_REPORTED) return e.exitCode;
      // Help and version exit 0; a bad command line has been printed by commander.
      return e.exitCode === 0 ? 0 : USAGE;
    }
    if (isDdpsError(e)) {
      process.stderr.write(`ddps${running}: ${e.message}\n`);
      return e.code === 'BAD_ARGUMENT' ? USAGE : 1;
    }
    throw e;
  }
}
