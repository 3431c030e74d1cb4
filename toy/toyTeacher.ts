/**
 * A toy teacher classifier for the toy world, so the demo can show soft labels without a real model:
 * each pixel scores every class by the negative squared distance of its colour to the class colour,
 * and a global max pool keeps each class's best match. An ordinary ONNX classifier with a teacher config like the real ones.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphBuilder } from '../models/onnx/builder.js';
import { TOY_CLASSES, type ToyClass } from './classes.js';

/** Logit scale: sharp enough that a clear object gives a confident label, soft enough to show T. */
const SHARPNESS = 8;

export interface ToyTeacher {
  model: string;
  config: string;
}

export async function buildToyTeacher(dir: string, classes: readonly ToyClass[] = TOY_CLASSES): Promise<ToyTeacher> {
  const g = new GraphBuilder('toy_teacher');
  g.input('input', 'float32', ['batch', 3, 64, 64]);
  const k = classes.length;
  const w = new Float32Array(k * 3);
  const b = new Float32Array(k);
  classes.forEach((c, i) => {
    const p = c.rgb.map((v) => v / 255);
    p.forEach((v, j) => (w[i * 3 + j] = 2 * v * SHARPNESS));
    b[i] = -SHARPNESS * p.reduce((a, v) => a + v * v, 0);
  });
  g.initializer('vote.weight', 'float32', [k, 3, 1, 1], w);
  g.initializer('vote.bias', 'float32', [k], b);
  // |x|^2 per pixel completes -|x - p|^2 = 2 p.x - |p|^2 - |x|^2, so the max over pixels compares distances.
  g.initializer('energy.weight', 'float32', [1, 3, 1, 1], new Float32Array(3).fill(SHARPNESS));
  const sq = g.node('Mul', ['input', 'input'], [g.fresh('sq')]);
  const energy = g.node('Conv', [sq, 'energy.weight'], [g.fresh('energy')], { kernel_shape: [1, 1] });
  const partial = g.node('Conv', ['input', 'vote.weight', 'vote.bias'], [g.fresh('partial')], { kernel_shape: [1, 1] });
  const votes = g.node('Sub', [partial, energy], [g.fresh('votes')]);
  const best = g.node('GlobalMaxPool', [votes], [g.fresh('best')]);
  g.node('Flatten', [best], ['output'], { axis: 1 });
  g.output('output', 'float32', ['batch', k]);
  const model = join(dir, 'teacher.onnx');
  await g.save(model);
  const config = join(dir, 'teacher.json');
  await writeFile(config, JSON.stringify({ input: 'input', output: 'output', size: [64, 64], mean: [0, 0, 0], std: [1, 1, 1], batch: null }, null, 2) + '\n');
  return { model, config };
}
