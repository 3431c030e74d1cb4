/** The real CIFAR-10 teacher in ../shared/models and its preprocessing (shared/models/README.md). */
import { join } from 'node:path';
import type { TeacherConfig } from '../../models/classifier.js';
import { MODELS } from './paths.js';

export const CIFAR_TEACHER = join(MODELS, 'cifar10-resnet20.onnx');

export const CIFAR_CONFIG: TeacherConfig = {
  input: 'input',
  output: 'output',
  size: [32, 32],
  mean: [0.4914, 0.4822, 0.4465],
  std: [0.2023, 0.1994, 0.201],
  batch: 1,
};
