/**
 * Parsers for option values. Commander calls them with the raw string; a bad value throws
 * InvalidArgumentError and commander names the flag: "option '--clusters <K>' argument 'x' is
 * invalid. expected an integer >= 1".
 */
import { InvalidArgumentError } from 'commander';

export interface Bounds {
  min?: number;
  max?: number;
}

function bounds({ min, max }: Bounds): string {
  if (min !== undefined && max !== undefined) return ` in ${min}..${max}`;
  if (min !== undefined) return ` >= ${min}`;
  if (max !== undefined) return ` <= ${max}`;
  return '';
}

function within(n: number, { min, max }: Bounds): boolean {
  return (min === undefined || n >= min) && (max === undefined || n <= max);
}

/** Number(value) accepts '' and ' ', which are not numbers on a command line. */
function toNumber(value: string): number {
  return value.trim() === '' ? NaN : Number(value);
}

export function integer(b: Bounds = {}): (value: string) => number {
  return (value) => {
    const n = toNumber(value);
    if (!Number.isSafeInteger(n) || !within(n, b)) throw new InvalidArgumentError(`expected an integer${bounds(b)}`);
    return n;
  };
}

export function decimal(b: Bounds = {}): (value: string) => number {
  return (value) => {
    const n = toNumber(value);
    if (!Number.isFinite(n) || !within(n, b)) throw new InvalidArgumentError(`expected a number${bounds(b)}`);
    return n;
  };
}

/** "1,10,50": one or more integers. */
export function integerList(b: Bounds = {}): (value: string) => number[] {
  const one = integer(b);
  return (value) => {
    try {
      return value.split(',').map((s) => one(s));
    } catch {
      throw new InvalidArgumentError(`expected integers${bounds(b)} separated by commas, like 1,10,50`);
    }
  };
}

/** "0.1,0.7": exactly two numbers. */
export function decimalPair(b: Bounds = {}): (value: string) => [number, number] {
  const one = decimal(b);
  return (value) => {
    const parts = value.split(',');
    try {
      if (parts.length === 2) return [one(parts[0]!), one(parts[1]!)];
    } catch {
      // reported below with the expected form
    }
    throw new InvalidArgumentError(`expected two numbers${bounds(b)} separated by a comma, like 0.1,0.7`);
  };
}
