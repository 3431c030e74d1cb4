/**
 * How a `ddps` command is declared, on commander: a name, a summary, its options taken from the one
 * catalogue (options.ts), and an action that receives the parsed options already typed. Adding a
 * command is one file under cli/commands/ and one line in program.ts (docs/ARCHITECTURE.md).
 */
import { Command, CommanderError, Option } from 'commander';

/** One option, and the type of its parsed value (undefined when it may be absent). */
export class OptionDef<T> {
  /** Never read: carries T. */
  declare readonly value: T;

  constructor(private readonly build: () => Option) {}

  /** A fresh commander Option (one per command: commander keeps per-command state on it). */
  make(): Option {
    return this.build();
  }

  /** The same option, required on this command. */
  required(): OptionDef<Exclude<T, undefined>> {
    return new OptionDef(() => this.build().makeOptionMandatory());
  }

  /** The same option with a default of this command's own. */
  or(fallback: Exclude<T, undefined>): OptionDef<Exclude<T, undefined>> {
    return new OptionDef(() => this.build().default(fallback));
  }

  /** The same option with its default described in --help when the action computes it (e.g. "<out>/store"). */
  defaultShownAs(text: string): OptionDef<T> {
    // commander prints a default only when there is a value; this one is computed later, so it is part of the help text.
    return new OptionDef(() => {
      const o = this.build();
      o.description = `${o.description.replace(/ \(default: [^)]*\)$/, '')} (default: ${text})`;
      return o;
    });
  }

  /** The same option, accepted but not listed in --help. */
  hidden(): OptionDef<T> {
    return new OptionDef(() => this.build().hideHelp());
  }
}

type ValueHow<T> = { parse?: (raw: string) => T; choices?: readonly T[] };

function valueOption<T>(flags: string, help: string, group: string, how: ValueHow<T>): Option {
  const o = new Option(flags, help).helpGroup(group);
  if (how.parse) o.argParser(how.parse);
  if (how.choices) o.choices(how.choices as readonly string[]);
  return o;
}

/** `--name <value>` without a default: absent unless given. Parsed by `parse`, or one of `choices`, else a string. */
export function value<T = string>(flags: string, help: string, group: string, how: ValueHow<T> = {}): OptionDef<T | undefined> {
  return new OptionDef(() => valueOption(flags, help, group, how));
}

/** `--name <value>` with a default taken from the configuration (shown as `text`, else the value). */
export function valueOr<T>(flags: string, help: string, group: string, fallback: T, how: ValueHow<T> & { text?: string } = {}): OptionDef<T> {
  return new OptionDef(() => valueOption(flags, help, group, how).default(fallback, how.text));
}

/** `--name`: true when given. */
export function flag(flags: string, help: string, group: string): OptionDef<true | undefined> {
  return new OptionDef(() => new Option(flags, help).helpGroup(group));
}

/** The CommanderError code of an exit whose reason the command has already printed. */
export const EXIT_REPORTED = 'ddps.exit';

export type OptionDefs = Record<string, OptionDef<unknown>>;

/** The parsed options of a command with these definitions. */
export type Values<D extends OptionDefs> = { [K in keyof D]: D[K]['value'] };

/**
 * What a command would use for options not given: each one's default (undefined where it has none,
 * required ones included, so a caller gives those), for running a command's action from code.
 */
export function defaults<D extends OptionDefs>(defs: D): Values<D> {
  return Object.fromEntries(Object.entries(defs).map(([k, d]) => [k, d.make().defaultValue as unknown])) as Values<D>;
}

/** Something done to the command after its options: accepting an old spelling, say. */
export type Adjust = (cmd: Command) => void;

export interface CommandSpec<D extends OptionDefs> {
  name: string;
  /** One line, for `ddps --help`. */
  summary: string;
  /** The paragraph `ddps <name> --help` starts with (default: the summary). */
  description?: string;
  /** Positional arguments, e.g. [['<pack>', 'model pack folder']]. */
  args?: ReadonlyArray<readonly [string, string]>;
  /** Keys are the options' camelCase names (`--patch-size` is patchSize), checked when the command is built. */
  options: D;
  adjust?: readonly Adjust[];
  /**
   * Runs the command. A DdpsError it throws becomes the message and exit code (program.ts); a number
   * it returns is the exit code, for a failure it has already reported (e.g. in its --json output).
   */
  action(o: Values<D>, args: string[]): Promise<number | void> | number | void;
}

export function defineCommand<D extends OptionDefs>(spec: CommandSpec<D>): Command {
  const cmd = new Command(spec.name).summary(spec.summary).description(spec.description ?? spec.summary);
  for (const [name, description] of spec.args ?? []) cmd.argument(name, description);
  for (const [key, def] of Object.entries(spec.options)) {
    const option = def.make();
    if (option.attributeName() !== key) throw new Error(`ddps ${spec.name}: option ${option.flags} is listed as '${key}', expected '${option.attributeName()}'`);
    cmd.addOption(option);
  }
  for (const adjust of spec.adjust ?? []) adjust(cmd);
  cmd.action(async () => {
    const positionals = cmd.processedArgs.flat().filter((a): a is string => typeof a === 'string');
    const code = await spec.action(cmd.opts() as Values<D>, positionals);
    if (typeof code === 'number' && code !== 0) throw new CommanderError(code, EXIT_REPORTED, '');
  });
  return cmd;
}

/** A command that only groups subcommands: `ddps model check`, `ddps model dift`. */
export function defineGroup(name: string, summary: string, commands: Command[]): Command {
  const group = new Command(name).summary(summary).description(summary);
  for (const c of commands) group.addCommand(c);
  return group;
}

/** "model check" for the subcommand check of model (the program, `ddps`, not included). */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  if (names[0] === 'ddps') names.shift();
  return names.join(' ');
}

/** A line on stderr in the command's name, e.g. a deprecation. */
export function note(cmd: Command, line: string): void {
  process.stderr.write(`ddps ${commandPath(cmd)}: ${line}\n`);
}

function optionOf(cmd: Command, key: string): Option {
  const o = cmd.options.find((x) => x.attributeName() === key);
  if (!o) throw new Error(`ddps ${cmd.name()}: no option '${key}'`);
  return o;
}

/**
 * Accept an old spelling: `oldFlags` (not in --help, parsed and checked like the first target) sets
 * each target the command line did not set itself, with one deprecation line on stderr.
 */
export function renamed(oldFlags: string, targets: readonly string[]): Adjust {
  return (cmd) => {
    const first = optionOf(cmd, targets[0]!);
    const old = new Option(oldFlags).hideHelp();
    if (first.parseArg) old.argParser(first.parseArg);
    if (first.argChoices) old.choices(first.argChoices);
    cmd.addOption(old);
    const news = targets.map((k) => optionOf(cmd, k));
    cmd.hook('preAction', () => {
      const given = cmd.getOptionValue(old.attributeName()) as unknown;
      if (given === undefined) return;
      for (const o of news) if (cmd.getOptionValueSource(o.attributeName()) !== 'cli') cmd.setOptionValueWithSource(o.attributeName(), given, 'cli');
      note(cmd, `${old.long} is deprecated: use ${news.map((o) => o.long).join(' and ')}`);
    });
  };
}
