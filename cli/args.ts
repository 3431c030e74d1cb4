/**
 * Tiny declarative option parsing on top of node:util parseArgs, so every command documents its knobs
 * in one table that also renders its --help.
 */
import { parseArgs } from 'node:util';
import { DdpsError } from '../core/errors.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  help: string;
  default?: string | boolean;
  short?: string;
  /** Placeholder shown in help, e.g. '<dir>'. */
  value?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Extra paragraphs after the option table. */
  notes?: string;
}

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(spec.options)) options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}) };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new DdpsError('BAD_ARGUMENT', `${spec.name}: ${(e as Error).message}\nRun 'ddps ${spec.name} --help' for the options.`);
  }
  const values: Record<string, string | boolean | undefined> = { ...parsed.values };
  for (const [name, o] of Object.entries(spec.options)) if (values[name] === undefined && o.default !== undefined) values[name] = o.default;
  return { values, positionals: parsed.positionals };
}

export function helpText(spec: CommandSpec): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? '<value>'}` : ''}`;
    const def = o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : '';
    return [flag, o.help + def] as const;
  });
  const width = Math.max(0, ...rows.map(([f]) => f.length)) + 2;
  const lines = [`ddps ${spec.name} — ${spec.summary}`, '', `Usage: ${spec.usage}`, ''];
  if (rows.length) lines.push('Options:', ...rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`), '');
  if (spec.notes) lines.push(spec.notes, '');
  return lines.join('\n');
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function required(p: Parsed, name: string, command: string): string {
  const v = str(p, name);
  if (!v) throw new DdpsError('BAD_ARGUMENT', `--${name} is required (see ddps ${command} --help)`);
  return v;
}

export function num(p: Parsed, name: string, opts: { integer?: boolean; min?: number } = {}): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min)) {
    throw new DdpsError('BAD_ARGUMENT', `--${name} must be ${opts.integer ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}; got '${v}'`);
  }
  return n;
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}
