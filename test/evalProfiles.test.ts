import test from 'ava';
import { isDdpsError } from '../core/errors.js';
import { batchSizeFor, checkProfile, fullEpochs, loadProfiles, resolveProfile } from '../pipelines/evalProfiles.js';

test('every profile in profiles.json is valid and has RDED\'s values', (t) => {
  const profiles = loadProfiles();
  t.deepEqual([...profiles.keys()].sort(), ['cifar10-conv3', 'cifar10-resnet18', 'imagenette-resnet18', 'imagenette-resnet18-128']);
  for (const p of profiles.values()) {
    t.is(p.optimizer.lr, 0.001);
    t.is(p.optimizer.weightDecay, 0.01);
    t.is(p.temperature, 20);
    t.is(p.augment.cutmixBeta, 1);
    t.is(p.epochs, 300);
    // RDED: RandomResizedCrop(scale = (1 / factor, 1)); test Resize(size // 7 * 8) then CenterCrop(size).
    t.is(p.augment.rrcScale[0], 1 / p.augment.shufflePatches);
    t.deepEqual(p.test, { resize: Math.floor(p.size / 7) * 8, crop: p.size });
  }
  t.is(profiles.get('cifar10-conv3')!.model.arch, 'convnet');
  t.true(profiles.get('imagenette-resnet18-128')!.devOnly);
  t.regex(profiles.get('imagenette-resnet18-128')!.note!, /relative comparisons only/);
});

test('batchSizeFor: 10 / 50 / 100 by IPC, doubled from 100 classes, never above IPC x classes', (t) => {
  const p = resolveProfile('cifar10-conv3');
  t.is(batchSizeFor(p, 1, 10), 10);
  t.is(batchSizeFor(p, 10, 10), 50);
  t.is(batchSizeFor(p, 50, 10), 100);
  t.is(batchSizeFor(p, 5, 10), 50);
  t.is(batchSizeFor(p, 10, 100), 100);
  t.is(batchSizeFor(p, 2, 3), 6);
});

test('fullEpochs caps the images seen; overrides replace the profile\'s values', (t) => {
  const p = resolveProfile('cifar10-conv3', { epochs: 40, lr: 0.002, seeds: 3 });
  t.deepEqual([p.epochs, p.optimizer.lr, p.seeds], [40, 0.002, 3]);
  t.deepEqual(fullEpochs(resolveProfile('cifar10-conv3'), 50000), { epochs: 30, capped: true });
  t.deepEqual(fullEpochs(resolveProfile('cifar10-conv3'), 100), { epochs: 300, capped: false });
  t.true(isDdpsError(t.throws(() => resolveProfile('cifar10-conv3', { epochs: 0 })), 'BAD_ARGUMENT'));
  const err = t.throws(() => resolveProfile('cifar100'));
  t.regex(err!.message, /unknown evaluation profile "cifar100".*cifar10-conv3/);
});

test('checkProfile names the profile and the field at fault', (t) => {
  const p = { ...resolveProfile('cifar10-conv3') } as Record<string, unknown>;
  const err = t.throws(() => checkProfile('mine', { ...p, augment: { ...(p.augment as object), rrcScale: [0, 1] } }));
  t.regex(err!.message, /profile "mine": augment.rrcScale/);
  t.regex(t.throws(() => checkProfile('dev', { ...p, devOnly: true, note: undefined }))!.message, /devOnly profile needs a "note"/);
});
