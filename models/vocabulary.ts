/**
 * A small CLIP-style vocabulary for packs the project builds (the toy pack, a trained small pack): the
 * 512 byte symbols (plain and end-of-word), the merges that make each given word one token, and the two
 * special tokens. Built with the real tokenizer, so whatever the tokenizer does to a word is what the
 * merges are made from; any other text still tokenizes (into byte symbols).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BYTE_TO_CHAR, ClipTokenizer, preTokenize } from './tokenizer.js';

const BOS = '<|startoftext|>';
const EOS = '<|endoftext|>';

/** A BPE vocabulary: token -> id, and the merges in priority order. */
export interface Vocabulary {
  vocab: Map<string, number>;
  merges: [string, string][];
}

function vocabOf(tokens: readonly string[]): Map<string, number> {
  return new Map([...tokens, BOS, EOS].map((t, i) => [t, i]));
}

/**
 * Each new word's merges rank after all earlier ones, and an earlier word is already one token, so
 * adding a word never changes how the earlier ones split.
 */
export function buildVocabulary(words: readonly string[]): Vocabulary {
  const tokens = [...BYTE_TO_CHAR, ...BYTE_TO_CHAR.map((c) => `${c}</w>`)];
  const known = new Set(tokens);
  const merges: [string, string][] = [];
  for (const word of words) {
    const symbols = new ClipTokenizer(vocabOf(tokens), merges).tokens(word).slice(1, -1);
    let acc = symbols[0]!;
    for (const s of symbols.slice(1)) {
      merges.push([acc, s]);
      acc += s;
      if (!known.has(acc)) {
        known.add(acc);
        tokens.push(acc);
      }
    }
  }
  return { vocab: vocabOf(tokens), merges };
}

/** The distinct pieces of the texts, in first-seen order: the words a vocabulary for those prompts needs. */
export function wordsOf(texts: readonly string[]): string[] {
  return [...new Set(texts.flatMap((t) => preTokenize(t)))];
}

/** Writes vocab.json, merges.txt and tokenizer_config.json in the Hugging Face layout. */
export async function writeVocabulary(dir: string, words: readonly string[]): Promise<void> {
  const { vocab, merges } = buildVocabulary(words);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'vocab.json'), JSON.stringify(Object.fromEntries(vocab)));
  await writeFile(join(dir, 'merges.txt'), ['#version: 0.2', ...merges.map(([a, b]) => `${a} ${b}`)].join('\n') + '\n');
  await writeFile(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({ bos_token: BOS, eos_token: EOS, pad_token: EOS, unk_token: EOS, model_max_length: 77 }, null, 2),
  );
}
