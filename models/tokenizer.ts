import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DdpsError } from '../core/errors.js';

/**
 * CLIP byte-level BPE tokenizer, matching Hugging Face's CLIPTokenizer(Fast) / OpenAI's
 * simple_tokenizer for the prompts this project builds (ftfy and HTML unescaping are left out).
 */

/**
 * The CLIP pre-tokenizer: special tokens, English contractions, letter runs, single digits, other runs.
 * Whitespace is Unicode White_Space (as in tokenizer.json's regexes), not JS `\s`, which differs on
 * U+0085 and U+FEFF.
 */
const PIECE = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\p{White_Space}\p{L}\p{N}]+/giu;

/**
 * tokenizer.json's ByteLevel pre-tokenizer splits each piece again with GPT-2's pattern (whitespace is
 * gone by then). It changes only pieces like a lowercased `<|ENDOFTEXT|>`: `<|`, `endoftext`, `|>`.
 */
const BYTE_LEVEL_PIECE = /'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}+|[^\p{White_Space}\p{L}\p{N}]+/gu;

/**
 * NFC, whitespace runs to one space (the pieces drop it anyway), lowercased one code point at a time:
 * tokenizer.json's Lowercase ignores context, so a word-final capital sigma becomes σ, not ς.
 */
function normalize(text: string): string {
  let lower = '';
  for (const c of text.normalize('NFC').replace(/\p{White_Space}+/gu, ' ')) lower += c.toLowerCase();
  return lower;
}

/** The pieces BPE runs on, in order: normalised text split as CLIP and then tokenizer.json's ByteLevel split it. */
export function preTokenize(text: string): string[] {
  const pieces: string[] = [];
  for (const clipPiece of normalize(text).matchAll(PIECE)) {
    for (const piece of clipPiece[0].matchAll(BYTE_LEVEL_PIECE)) pieces.push(piece[0]);
  }
  return pieces;
}

const END_OF_WORD = '</w>';
const CACHE_LIMIT = 50_000;

/**
 * GPT-2 `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other bytes to U+0100 onwards,
 * so every byte is one visible character and BPE never sees whitespace or control characters.
 */
function bytesToUnicode(): readonly string[] {
  const table: string[] = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : next++);
  }
  return table;
}

/** Byte value -> its BPE symbol (vocabularies are written in these symbols). */
export const BYTE_TO_CHAR: readonly string[] = bytesToUnicode();
const encoder = new TextEncoder();

/** Special tokens and output length of a CLIP tokenizer (CLIP's defaults). */
export interface ClipTokenizerOptions {
  /** Output length of `encode`, special tokens included (CLIP's context length). */
  maxLength?: number;
  bosToken?: string;
  eosToken?: string;
  /** Fills `encode`'s output after the end token; SD 1.5 pads with `<|endoftext|>`. */
  padToken?: string;
  /** Stands for a BPE token missing from the vocabulary (HF's CLIPTokenizer uses `<|endoftext|>`). */
  unkToken?: string;
  /** Names the vocabulary's source in error messages. */
  source?: string;
}

/** CLIP's byte-level BPE tokenizer, read from a pack's vocab.json + merges.txt or tokenizer.json. */
export class ClipTokenizer {
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  /** One more than the largest id: the row count of an embedding table (49408 for CLIP). */
  readonly vocabSize: number;
  private readonly bosToken: string;
  private readonly eosToken: string;
  private readonly vocab: ReadonlyMap<string, number>;
  private readonly ranks = new Map<string, number>();
  private readonly specialSplit: RegExp;
  private readonly cache = new Map<string, string[]>();

  /** `merges` in priority order, each a pair of symbols. */
  constructor(vocab: ReadonlyMap<string, number>, merges: ReadonlyArray<readonly [string, string]>, options: ClipTokenizerOptions = {}) {
    const source = options.source ?? 'tokenizer vocabulary';
    this.maxLength = options.maxLength ?? 77;
    if (!Number.isInteger(this.maxLength) || this.maxLength < 2) {
      throw new DdpsError('BAD_ARGUMENT', `tokenizer maxLength is ${this.maxLength}, expected an integer >= 2`);
    }
    this.vocab = vocab;
    let maxId = -1;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    merges.forEach(([a, b], rank) => {
      const key = `${a} ${b}`;
      if (!this.ranks.has(key)) this.ranks.set(key, rank);
    });
    const special = (token: string, role: string): number => {
      const id = vocab.get(token);
      if (id === undefined) {
        throw new DdpsError('BAD_MODEL', `${source}: has no ${role} token ${JSON.stringify(token)}`, { file: options.source });
      }
      return id;
    };
    this.bosToken = options.bosToken ?? '<|startoftext|>';
    this.eosToken = options.eosToken ?? '<|endoftext|>';
    this.bosId = special(this.bosToken, 'start');
    this.eosId = special(this.eosToken, 'end');
    this.padId = special(options.padToken ?? this.eosToken, 'padding');
    this.unkId = special(options.unkToken ?? this.eosToken, 'unknown');
    const escape = (t: string): string => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.specialSplit = new RegExp(`(${escape(this.bosToken)}|${escape(this.eosToken)})`, 'u');
  }

  /**
   * Reads a Hugging Face tokenizer folder: `vocab.json` + `merges.txt`, else `tokenizer.json`, plus the
   * special tokens of `tokenizer_config.json` when present.
   */
  static async fromDir(dir: string, options: Omit<ClipTokenizerOptions, 'source'> = {}): Promise<ClipTokenizer> {
    const vocabFile = join(dir, 'vocab.json');
    const mergesFile = join(dir, 'merges.txt');
    const jsonFile = join(dir, 'tokenizer.json');
    const special = await readSpecialTokens(join(dir, 'tokenizer_config.json'));
    const opts = { ...special, ...options };
    if ((await exists(vocabFile)) && (await exists(mergesFile))) {
      const vocab = parseVocab(await readJson(vocabFile), vocabFile);
      const merges = parseMerges((await readFile(mergesFile, 'utf8')).split('\n'), mergesFile, true);
      return new ClipTokenizer(vocab, merges, { ...opts, source: vocabFile });
    }
    if (await exists(jsonFile)) {
      const json = await readJson(jsonFile);
      const model = isObject(json) && isObject(json.model) ? json.model : undefined;
      if (model === undefined || !Array.isArray(model.merges)) {
        throw new DdpsError('BAD_MODEL', `${jsonFile}: no model.vocab / model.merges, expected a BPE tokenizer.json`, { file: jsonFile });
      }
      const vocab = new Map(parseVocab(model.vocab, jsonFile));
      // Added tokens (the specials) may live outside model.vocab.
      if (isObject(json) && Array.isArray(json.added_tokens)) {
        for (const t of json.added_tokens) {
          if (isObject(t) && typeof t.content === 'string' && typeof t.id === 'number') vocab.set(t.content, t.id);
        }
      }
      return new ClipTokenizer(vocab, parseMerges(model.merges, jsonFile, false), { ...opts, source: jsonFile });
    }
    throw new DdpsError(
      'MISSING_FILE',
      `${dir}: no tokenizer files, expected vocab.json + merges.txt or tokenizer.json`,
      { file: dir },
    );
  }

  /** Vocabulary id of a token string (e.g. `cat</w>`), or undefined. */
  idOf(token: string): number | undefined {
    return this.vocab.get(token);
  }

  /**
   * The BPE tokens of `text` between the start and end tokens, without truncation. As in tokenizer.json,
   * only exact special-token strings in the raw text are special; everything else is normalised (NFC,
   * whitespace collapsed, lowercased) and split into pieces.
   */
  private contentTokens(text: string): string[] {
    const tokens: string[] = [];
    text.split(this.specialSplit).forEach((segment, n) => {
      // split() with a capturing group puts the separators (the special tokens) at odd positions.
      if (n % 2 === 1) {
        tokens.push(segment);
        return;
      }
      for (const piece of preTokenize(segment)) {
        let chars = '';
        for (const byte of encoder.encode(piece)) chars += BYTE_TO_CHAR[byte];
        for (const t of this.bpe(chars)) tokens.push(t);
      }
    });
    return tokens;
  }

  /** Start token, content tokens truncated to maxLength - 2, end token (no padding): for debugging. */
  tokens(text: string): string[] {
    return [this.bosToken, ...this.contentTokens(text).slice(0, this.maxLength - 2), this.eosToken];
  }

  /** Exactly maxLength ids: start, up to maxLength - 2 content tokens, end, then padding. */
  encode(text: string): number[] {
    const ids = [this.bosId];
    for (const t of this.contentTokens(text).slice(0, this.maxLength - 2)) {
      ids.push(this.vocab.get(t) ?? this.unkId);
    }
    ids.push(this.eosId);
    while (ids.length < this.maxLength) ids.push(this.padId);
    return ids;
  }

  /** Merges the lowest-ranked adjacent pair until none is in the merge table (OpenAI's `bpe`). */
  private bpe(word: string): string[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    let symbols = Array.from(word);
    symbols[symbols.length - 1] += END_OF_WORD;
    while (symbols.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      const first = symbols[best];
      const second = symbols[best + 1];
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (symbols[i] === first && i + 1 < symbols.length && symbols[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(symbols[i]);
        }
      }
      symbols = merged;
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, symbols);
    return symbols;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

async function readJson(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new DdpsError('BAD_MODEL', `${file}: not valid JSON (${String(cause)})`, { file, cause });
  }
}

function parseVocab(json: unknown, file: string): Map<string, number> {
  if (!isObject(json)) {
    throw new DdpsError('BAD_MODEL', `${file}: vocabulary is not a JSON object of token -> id`, { file });
  }
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(json)) {
    if (!Number.isInteger(id)) {
      throw new DdpsError('BAD_MODEL', `${file}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, expected an integer`, { file });
    }
    vocab.set(token, id as number);
  }
  return vocab;
}

/**
 * Merge rules from merges.txt lines ("a b", after a `#version` header) or tokenizer.json's
 * model.merges (strings "a b" or, in newer files, [a, b] arrays).
 */
function parseMerges(entries: readonly unknown[], file: string, isText: boolean): Array<[string, string]> {
  const merges: Array<[string, string]> = [];
  entries.forEach((entry, n) => {
    let pair: unknown[] | undefined;
    if (typeof entry === 'string') {
      const line = entry.replace(/\r$/, '');
      if (line === '' || (isText && n === 0 && line.startsWith('#version'))) return;
      pair = line.split(' ');
    } else if (Array.isArray(entry)) {
      pair = entry;
    }
    if (pair === undefined || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      const where = isText ? `line ${n + 1}` : `model.merges[${n}]`;
      throw new DdpsError('BAD_MODEL', `${file}: ${where} is ${JSON.stringify(entry)}, expected two symbols`, { file });
    }
    merges.push([pair[0], pair[1]]);
  });
  return merges;
}

/** The special tokens named in tokenizer_config.json (a string or an AddedToken object each). */
async function readSpecialTokens(file: string): Promise<Omit<ClipTokenizerOptions, 'maxLength' | 'source'>> {
  if (!(await exists(file))) return {};
  const json = await readJson(file);
  if (!isObject(json)) return {};
  const token = (v: unknown): string | undefined =>
    typeof v === 'string' ? v : isObject(v) && typeof v.content === 'string' ? v.content : undefined;
  const out: Omit<ClipTokenizerOptions, 'maxLength' | 'source'> = {};
  const bos = token(json.bos_token);
  const eos = token(json.eos_token);
  const pad = token(json.pad_token);
  const unk = token(json.unk_token);
  if (bos !== undefined) out.bosToken = bos;
  if (eos !== undefined) out.eosToken = eos;
  if (pad !== undefined) out.padToken = pad;
  if (unk !== undefined) out.unkToken = unk;
  return out;
}
