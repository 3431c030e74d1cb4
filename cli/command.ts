import type { CommandSpec, Parsed } from './args.js';

export interface Command {
  spec: CommandSpec;
  run(args: Parsed): Promise<number>;
}
