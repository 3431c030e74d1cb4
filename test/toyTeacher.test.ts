import test from 'ava';
import { Classifier, argmax, loadTeacherConfig } from '../models/classifier.js';
import { TOY_CLASSES } from '../toy/classes.js';
import { drawToyImage } from '../toy/toyData.js';
import { buildToyTeacher } from '../toy/toyTeacher.js';
import { tempDir } from './helpers/paths.js';

test('the toy teacher names the object of toy images', async (t) => {
  const { model, config } = await buildToyTeacher(tempDir());
  const teacher = await Classifier.load(model, await loadTeacherConfig(config));
  let right = 0;
  const n = 60;
  for (let i = 0; i < n; i++) {
    const cls = i % TOY_CLASSES.length;
    const img = drawToyImage({ seed: 3, index: i, cls });
    const [logits] = await teacher.logits([img]);
    if (argmax(logits!) === cls) right++;
  }
  await teacher.close();
  t.true(right / n >= 0.95, `toy teacher accuracy ${right / n}`);
});
