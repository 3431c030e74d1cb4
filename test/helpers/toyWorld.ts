/** One small toy world per test process, built on first use into a temp folder. */
import { ensureToyWorld, type ToyWorld } from '../../toy/index.js';
import { tempDir } from './paths.js';

let world: Promise<ToyWorld> | undefined;

export function toyWorld(): Promise<ToyWorld> {
  world ??= ensureToyWorld({ dir: tempDir('ddps-toy-'), perClass: 12, shards: 2 });
  return world;
}

/** Settings that suit the toy's 128-pixel images and 45-70-pixel objects. */
export const TOY_SCORE = { imageSize: 128, patchSize: 56, timesteps: 4 } as const;
