/**
 * A WebDataset sample and the two questions every pipeline asks of one: which image, which class.
 */
import { DdpsError } from '../../core/errors.js';
import { describeMiss, WNID, type ClassMap } from './classes.js';

/**
 * Consecutive tar members sharing a key, by lower-cased extension (`dir/a.b.jpg` -> key `dir/a`,
 * extension `b.jpg`). Member data are Buffers; only `__key__` and `__url__` are strings.
 */
export interface WdsSample {
  __key__: string;
  /** The shard the sample came from. */
  __url__: string;
  [ext: string]: Buffer | string;
}

/** The member extensions read as a sample's image, in order of preference. */
export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp'] as const;

/** The first of jpg, jpeg, png, webp present, or undefined. */
export function sampleImage(sample: WdsSample): Buffer | undefined {
  for (const ext of IMAGE_EXTENSIONS) {
    const v = sample[ext];
    if (Buffer.isBuffer(v)) return v;
  }
  return undefined;
}

function where(sample: WdsSample): string {
  return `sample "${sample.__key__}" in ${sample.__url__}`;
}

/** The sample's image bytes (sampleImage), or DdpsError('BAD_SAMPLE') naming the sample and the members it has. */
export function requireImage(sample: WdsSample): Buffer {
  const image = sampleImage(sample);
  if (image !== undefined) return image;
  const members = Object.keys(sample).filter((k) => !k.startsWith('__'));
  throw new DdpsError('BAD_SAMPLE', `${where(sample)} has no image (members: ${members.join(', ') || 'none'}); expected ${IMAGE_EXTENSIONS.join(', ')}`, {
    sample: sample.__key__,
    file: sample.__url__,
  });
}

function text(v: Buffer | string): string {
  return (typeof v === 'string' ? v : v.toString('utf8')).trim();
}

function checkIndex(sample: WdsSample, index: number, from: string, classMap?: ClassMap): number {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new DdpsError('BAD_SAMPLE', `${where(sample)}: ${from} gives class ${index}, expected a non-negative integer`, {
      sample: sample.__key__,
      file: sample.__url__,
    });
  }
  if (classMap !== undefined && index >= classMap.names.length) {
    throw new DdpsError(
      'UNKNOWN_CLASS',
      `${where(sample)}: ${from} gives class ${index}, but the class map has classes 0..${classMap.names.length - 1}`,
      { sample: sample.__key__, file: sample.__url__ },
    );
  }
  return index;
}

/** A class label that is not an index: a WordNet id or a name, resolved through the class map. */
function byLabel(sample: WdsSample, label: string, from: string, classMap?: ClassMap): number {
  if (classMap === undefined) {
    throw new DdpsError('BAD_ARGUMENT', `${where(sample)}: ${from} names class "${label}"; a class map is needed to turn it into an index`, {
      sample: sample.__key__,
      file: sample.__url__,
    });
  }
  const index = classMap.indexOf(label);
  if (index === undefined) {
    throw new DdpsError('UNKNOWN_CLASS', `${where(sample)}: ${from} names class "${label}", ${describeMiss(classMap, label)}`, {
      sample: sample.__key__,
      file: sample.__url__,
    });
  }
  return index;
}

const JSON_CLASS_FIELDS = ['label', 'class', 'cls', 'wnid'] as const;

/**
 * The sample's class index, from the first source present: `.cls` (an ASCII integer or a WordNet
 * id), `.json` (field label, class, cls or wnid: an integer, a WordNet id or a class name), `.txt` (a
 * WordNet id or a class name). Ids and names go through `classMap`; an unknown or ambiguous name, or
 * an index outside the map, is DdpsError('UNKNOWN_CLASS').
 * Undefined when the sample carries no class at all.
 */
export function sampleClass(sample: WdsSample, classMap?: ClassMap): number | undefined {
  const cls = sample.cls;
  if (cls !== undefined) {
    const s = text(cls);
    if (WNID.test(s)) return byLabel(sample, s, '.cls', classMap);
    if (!/^-?\d+$/.test(s)) {
      throw new DdpsError('BAD_SAMPLE', `${where(sample)}: .cls is "${s.slice(0, 40)}", expected an ASCII integer or a WordNet id`, {
        sample: sample.__key__,
        file: sample.__url__,
      });
    }
    return checkIndex(sample, Number(s), '.cls', classMap);
  }
  if (sample.json !== undefined) {
    let meta: unknown;
    try {
      meta = JSON.parse(text(sample.json));
    } catch (cause) {
      throw new DdpsError('BAD_SAMPLE', `${where(sample)}: .json is not valid JSON (${(cause as Error).message})`, {
        sample: sample.__key__,
        file: sample.__url__,
        cause,
      });
    }
    if (typeof meta === 'object' && meta !== null) {
      for (const field of JSON_CLASS_FIELDS) {
        const v = (meta as Record<string, unknown>)[field];
        if (typeof v === 'number') return checkIndex(sample, v, `.json "${field}"`, classMap);
        if (typeof v === 'string') return byLabel(sample, v.trim(), `.json "${field}"`, classMap);
      }
    }
  }
  if (sample.txt !== undefined) return byLabel(sample, text(sample.txt), '.txt', classMap);
  return undefined;
}
