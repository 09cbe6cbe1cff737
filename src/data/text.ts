/**
 * Text to token ids and back: characters (a vocabulary fitted on a text, as nanoGPT's
 * shakespeare_char) and UTF-8 bytes (a fixed vocabulary of 256).
 */
import { ValueError } from "../ir/errors.ts";

/** Token ids as numbers, a typed array or int64 values (bigints). */
export type TokenIds = ArrayLike<number> | ArrayLike<bigint>;

function checkId(op: string, id: number | bigint, size: number, pos: number): number {
  const n = Number(id);
  if (!Number.isInteger(n) || n < 0 || n >= size) throw new ValueError(`${op}: token id ${id} at position ${pos} is outside the vocabulary (size ${size})`);
  return n;
}

/**
 * One token per character (Unicode code point), the vocabulary being the sorted distinct
 * characters of the text it is fitted on.
 *
 * @example
 * const tok = st.data.CharTokenizer.fit("hello world");
 * tok.vocab;                 // [" ", "d", "e", "h", "l", "o", "r", "w"]
 * tok.encode("hold");        // [3, 5, 4, 1]
 * tok.decode([3, 5, 4, 1]);  // "hold"
 */
export class CharTokenizer {
  /** The characters, in id order. */
  readonly vocab: readonly string[];
  private readonly ids: Map<string, number>;

  /** A tokenizer with this vocabulary (distinct single characters), e.g. from `toJSON()`. */
  constructor(vocab: readonly string[]) {
    this.ids = new Map();
    vocab.forEach((c, i) => {
      if ([...c].length !== 1) throw new ValueError(`CharTokenizer: vocabulary entries must be single characters, got ${JSON.stringify(c)} at ${i}`);
      if (this.ids.has(c)) throw new ValueError(`CharTokenizer: vocabulary has ${JSON.stringify(c)} twice (at ${this.ids.get(c)} and ${i})`);
      this.ids.set(c, i);
    });
    this.vocab = [...vocab];
  }

  /** The sorted (by code point) distinct characters of `text`. */
  static fit(text: string): CharTokenizer {
    const chars = [...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    return new CharTokenizer(chars);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** The id of each character of `text`; a character outside the vocabulary raises. */
  encode(text: string): number[] {
    const out: number[] = [];
    let pos = 0;
    for (const c of text) {
      const id = this.ids.get(c);
      if (id === undefined) throw new ValueError(`CharTokenizer.encode: character ${JSON.stringify(c)} (U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}) at position ${pos} is not in the vocabulary`);
      out.push(id);
      pos++;
    }
    return out;
  }

  decode(ids: TokenIds): string {
    let s = "";
    for (let i = 0; i < ids.length; i++) s += this.vocab[checkId("CharTokenizer.decode", ids[i]!, this.vocab.length, i)];
    return s;
  }

  /** The vocabulary, to save; `new CharTokenizer(json.vocab)` restores it. */
  toJSON(): { vocab: string[] } {
    return { vocab: [...this.vocab] };
  }
}

/**
 * The UTF-8 bytes of a text as tokens (vocabulary 0..255). Decoding replaces invalid byte
 * sequences with U+FFFD, like `TextDecoder`.
 *
 * @example
 * const tok = new st.data.ByteTokenizer();
 * tok.encode("hé");          // [104, 195, 169]
 * tok.decode([104, 195, 169]) // "hé"
 */
export class ByteTokenizer {
  readonly vocabSize = 256;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder("utf-8");

  encode(text: string): number[] {
    return Array.from(this.encoder.encode(text));
  }

  decode(ids: TokenIds): string {
    const bytes = new Uint8Array(ids.length);
    for (let i = 0; i < ids.length; i++) bytes[i] = checkId("ByteTokenizer.decode", ids[i]!, 256, i);
    return this.decoder.decode(bytes);
  }
}
