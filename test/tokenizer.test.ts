import test from 'ava';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDdpsError } from '../core/errors.js';
import { BYTE_TO_CHAR, ClipTokenizer } from '../models/tokenizer.js';
import { TINY_SD } from './helpers/paths.js';
import { needs } from './helpers/needs.js';

const TOKENIZER_DIR = join(TINY_SD, 'tokenizer');
const BOS = 49406;
const EOS = 49407;

let realTokenizer: Promise<ClipTokenizer> | undefined;
/** The SD 1.5 tokenizer of the tiny-sd fixture, loaded by the first test that needs it. */
const real = (): Promise<ClipTokenizer> => (realTokenizer ??= ClipTokenizer.fromDir(TOKENIZER_DIR));

needs('shared')('"a photo of a cat": exact 77 ids of the SD 1.5 tokenizer', async (t) => {
  const tok = await real();
  const ids = tok.encode('a photo of a cat');
  t.deepEqual(ids, [BOS, 320, 1125, 539, 320, 2368, EOS, ...new Array<number>(70).fill(EOS)]);
  t.deepEqual(tok.tokens('a photo of a cat'), ['<|startoftext|>', 'a</w>', 'photo</w>', 'of</w>', 'a</w>', 'cat</w>', '<|endoftext|>']);
  t.is(tok.idOf('cat</w>'), 2368);
  t.is(tok.idOf('<|endoftext|>'), EOS);
  t.is(tok.idOf('no-such-token'), undefined);
  t.is(tok.padId, EOS);
  t.is(tok.vocabSize, 49408);
});

// Expected ids from tokenizer.json run by Hugging Face `tokenizers` 0.22 (1118 strings agreed, these kept).
const KNOWN: Array<[string, number[]]> = [
  ['How are you doing?', [829, 631, 592, 1960, 286]],
  ['An image of .', [550, 2867, 539, 269]],
  ['An image of tench.', [550, 2867, 539, 1149, 634, 269]],
  ["An image of jack-o'-lantern.", [550, 2867, 539, 3267, 268, 334, 26152, 17185, 269]],
  ['café', [15304]],
  ['CAFÉ', [15304]],
  ['cafe\u0301', [15304]], // NFD input: NFC makes it "café"
  ['abc123def', [5334, 272, 273, 274, 11649]], // digits are single pieces
  ["Don't stop, it's 3.14!", [847, 713, 1691, 267, 585, 568, 274, 269, 272, 275, 256]],
  ['  multiple   spaces\tand\nnewlines  ', [6470, 9006, 537, 1218, 3418]],
  ['Ångström straße', [23176, 10352, 807, 7255, 332, 1894, 127, 253, 324]],
  ['emoji 😀 ok', [16327, 7334, 2481]],
  // Lowercase per code point: the final capital sigma becomes σ (481 at the end), not ς.
  ['ΣΊΣΥΦΟΣ', [139, 225, 138, 107, 139, 225, 139, 227, 139, 228, 138, 123, 139, 481]],
  // Only the exact special-token string is special; an upper-case one is ordinary text.
  ['hello<|endoftext|>world', [3306, EOS, 1002]],
  ['<|ENDOFTEXT|>', [27, 347, 40786, 4160, 91, 285]],
  ['a\u0085b\ufeffc', [320, 321, 171, 119, 379, 322]], // U+0085 is whitespace, U+FEFF is not
];

needs('shared')('known answers from tokenizer.json: punctuation, digits, apostrophes, accents, whitespace', async (t) => {
  const tok = await real();
  for (const [text, ids] of KNOWN) {
    const padding = new Array<number>(77 - ids.length - 2).fill(EOS);
    t.deepEqual(tok.encode(text), [BOS, ...ids, EOS, ...padding], JSON.stringify(text));
  }
});

needs('shared')('long text keeps the start token, the first 75 tokens and the end token', async (t) => {
  const tok = await real();
  const ids = tok.encode('word '.repeat(80) + 'tail');
  t.is(ids.length, 77);
  t.deepEqual(ids, [BOS, ...new Array<number>(75).fill(2653), EOS]);
  const tokens = tok.tokens('a '.repeat(100));
  t.is(tokens.length, 77);
  t.is(tokens[76], '<|endoftext|>');
  t.deepEqual(tok.encode(''), [BOS, ...new Array<number>(76).fill(EOS)]);
});

needs('shared')('tokenizer.json alone gives the same ids as vocab.json + merges.txt', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ddps-tok-'));
  try {
    await copyFile(join(TOKENIZER_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    await copyFile(join(TOKENIZER_DIR, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    const fromJson = await ClipTokenizer.fromDir(dir);
    const tok = await real();
    for (const [text] of KNOWN) t.deepEqual(fromJson.encode(text), tok.encode(text), text);
    t.deepEqual(fromJson.encode('a photo of a cat').slice(0, 7), [BOS, 320, 1125, 539, 320, 2368, EOS]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a folder without tokenizer files is a MISSING_FILE error naming it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ddps-tok-empty-'));
  try {
    const err = await t.throwsAsync(ClipTokenizer.fromDir(dir));
    t.true(isDdpsError(err, 'MISSING_FILE'));
    t.true(err!.message.includes(dir));
    t.true(err!.message.includes('vocab.json'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A project-made vocabulary: 512 byte symbols, two words, specials at non-CLIP ids. */
function smallVocabulary(): { vocab: Map<string, number>; merges: Array<[string, string]> } {
  const tokens = [...BYTE_TO_CHAR, ...BYTE_TO_CHAR.map((c) => `${c}</w>`)];
  const merges: Array<[string, string]> = [
    ['c', 'a'],
    ['ca', 't</w>'],
    ['d', 'o'],
    ['do', 'g</w>'],
  ];
  tokens.push('ca', 'cat</w>', 'do', 'dog</w>', '<|startoftext|>', '<|endoftext|>');
  return { vocab: new Map(tokens.map((tk, i) => [tk, i])), merges };
}

test('special ids come from the vocabulary; pad_token from tokenizer_config.json is honoured', async (t) => {
  const { vocab, merges } = smallVocabulary();
  const dir = await mkdtemp(join(tmpdir(), 'ddps-tok-small-'));
  try {
    await writeFile(join(dir, 'vocab.json'), JSON.stringify(Object.fromEntries(vocab)));
    await writeFile(join(dir, 'merges.txt'), ['#version: 0.2', ...merges.map((m) => m.join(' '))].join('\n') + '\n');
    // AddedToken-object form, as some exports write it; "!" pads (as in SD 2.x's tokenizer).
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: { content: '!', lstrip: false } }));
    const tok = await ClipTokenizer.fromDir(dir, { maxLength: 8 });
    const bos = vocab.get('<|startoftext|>')!;
    const eos = vocab.get('<|endoftext|>')!;
    const pad = vocab.get('!')!;
    t.is(tok.bosId, bos);
    t.is(tok.eosId, eos);
    t.is(tok.padId, pad);
    t.is(tok.vocabSize, vocab.size);
    t.deepEqual(tok.encode('Cat dog'), [bos, vocab.get('cat</w>')!, vocab.get('dog</w>')!, eos, pad, pad, pad, pad]);
    // A partial word splits into what the merges allow.
    t.deepEqual(tok.tokens('cab'), ['<|startoftext|>', 'ca', 'b</w>', '<|endoftext|>']);
    // Truncation to maxLength - 2 content tokens.
    t.deepEqual(tok.encode('cat cat cat cat cat cat cat'), [bos, ...new Array<number>(6).fill(vocab.get('cat</w>')!), eos]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a BPE token outside the vocabulary maps to the unknown token; missing specials are refused', (t) => {
  const { vocab, merges } = smallVocabulary();
  vocab.delete('b</w>');
  const tok = new ClipTokenizer(vocab, merges);
  t.is(tok.encode('cab')[2], vocab.get('<|endoftext|>')!);
  const noEos = new Map(vocab);
  noEos.delete('<|endoftext|>');
  const err = t.throws(() => new ClipTokenizer(noEos, merges, { source: 'x/vocab.json' }));
  t.true(isDdpsError(err, 'BAD_MODEL'));
  t.true(err!.message.includes('x/vocab.json'));
  t.true(err!.message.includes('<|endoftext|>'));
});
