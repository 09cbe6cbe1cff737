/**
 * CSV (RFC 4180): quoted fields (with delimiters, quotes doubled as "", and line breaks inside),
 * LF / CRLF / CR line ends, a header row, and numeric columns to tensors.
 */
import type { DType } from "../ir/dtype.ts";
import { IndexError, ValueError } from "../ir/errors.ts";
import { tensor } from "../tensor/create.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { readBytes } from "./files.ts";

export interface CsvOpts {
  /** The field separator, one character (default ","). */
  delimiter?: string;
  /** The first row names the columns (default true). Without a header the columns are named "0", "1", ... */
  header?: boolean;
  /** Skip lines with no characters at all (default true). */
  skipEmptyLines?: boolean;
}

/** One record: its fields and the line of the file where it starts (1-based). */
interface Record_ {
  fields: string[];
  line: number;
  /** A line with no characters at all. */
  empty: boolean;
}

/** Splits CSV text into records; raises on an unterminated quoted field or a quote inside an unquoted field. */
function records(text: string, delimiter: string): Record_[] {
  const out: Record_[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1, recordLine = 1;
  let i = 0;
  const n = text.length;
  let quotedField = false; // the current field was quoted
  let anyQuoted = false; // some field of the current record was quoted (so a line of "" is not empty)
  const endField = () => {
    fields.push(field);
    field = "";
  };
  const endRecord = () => {
    endField();
    out.push({ fields, line: recordLine, empty: fields.length === 1 && fields[0] === "" && !anyQuoted });
    fields = [];
    quotedField = anyQuoted = false;
  };
  if (text.charCodeAt(0) === 0xfeff) i = 1; // byte order mark
  let atRecordStart = true;
  while (i < n) {
    const c = text[i]!;
    if (atRecordStart) {
      recordLine = line;
      atRecordStart = false;
    }
    if (c === '"' && field === "" && !quotedField) {
      // A quoted field: up to the closing quote; "" is a quote.
      const startLine = line;
      i++;
      for (;;) {
        if (i >= n) throw new ValueError(`CSV: unterminated quoted field starting on line ${startLine}`);
        const q = text[i]!;
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === "\n" || (q === "\r" && text[i + 1] !== "\n")) line++;
        field += q;
        i++;
      }
      quotedField = anyQuoted = true;
      const next = text[i];
      if (next !== undefined && next !== delimiter && next !== "\n" && next !== "\r") {
        throw new ValueError(`CSV: unexpected character ${JSON.stringify(next)} after the closing quote of a field on line ${line}`);
      }
      continue;
    }
    if (c === delimiter) {
      endField();
      quotedField = false;
      i++;
    } else if (c === "\n" || c === "\r") {
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
      endRecord();
      line++;
      atRecordStart = true;
    } else {
      if (c === '"') throw new ValueError(`CSV: a quote inside an unquoted field on line ${line} (quote the whole field and double the quote: "a""b")`);
      let j = i + 1;
      while (j < n) {
        const d = text[j]!;
        if (d === delimiter || d === "\n" || d === "\r" || d === '"') break;
        j++;
      }
      field += text.slice(i, j);
      i = j;
    }
  }
  if (!atRecordStart) endRecord();
  return out;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const SPECIAL: Record<string, number> = { nan: NaN, inf: Infinity, "+inf": Infinity, "-inf": -Infinity, infinity: Infinity, "+infinity": Infinity, "-infinity": -Infinity };

/** A field as a number: decimal or scientific notation, nan/inf; empty is NaN (missing); otherwise null. */
export function parseNumber(s: string): number | null {
  const t = s.trim();
  if (t === "") return NaN;
  if (NUMBER.test(t)) return Number(t);
  const sp = SPECIAL[t.toLowerCase()];
  return sp === undefined ? null : sp;
}

/**
 * A parsed CSV file: column names and rows of strings, with numeric columns as tensors.
 *
 * @example
 * const table = st.data.parseCsv("x1,x2,label\n0.5,1,0\n2,3.5,1\n");
 * table.tensor(["x1", "x2"]);              // [2, 2] float32
 * table.tensor("label", { dtype: "int64" }); // [2] int64
 */
export class CsvTable {
  constructor(
    readonly columns: readonly string[],
    readonly rows: readonly (readonly string[])[],
    /** The line of the file where each row starts (1-based), for error messages. */
    readonly lines: readonly number[],
  ) {}

  /** The number of rows (without the header). */
  get length(): number {
    return this.rows.length;
  }

  /** The index of a column, by name or index (negative counts from the end). */
  columnIndex(col: string | number): number {
    if (typeof col === "number") {
      const c = this.columns.length;
      if (!Number.isInteger(col) || col < -c || col >= c) throw new IndexError(`CSV: column index ${col} is out of range for ${c} columns`);
      return col < 0 ? col + c : col;
    }
    const i = this.columns.indexOf(col);
    if (i < 0) throw new IndexError(`CSV: no column named ${JSON.stringify(col)} (columns: ${this.columns.map((c) => JSON.stringify(c)).join(", ")})`);
    return i;
  }

  /** One column's values as strings. */
  column(col: string | number): string[] {
    const k = this.columnIndex(col);
    return this.rows.map((r) => r[k]!);
  }

  /** The columns whose every value is a number (or empty). */
  numericColumns(): string[] {
    return this.columns.filter((_, k) => this.rows.every((r) => parseNumber(r[k]!) !== null));
  }

  /**
   * Numeric columns as a tensor: one column (a name or index) gives [rows], a list gives
   * [rows, columns] (default: every column). Empty fields are NaN; a non-numeric field raises,
   * naming its line and column. dtype float32 by default; an integer dtype requires integers.
   */
  tensor(cols?: string | number | readonly (string | number)[], opts: { dtype?: DType } = {}): Tensor {
    const single = typeof cols === "string" || typeof cols === "number";
    const list = single ? [cols] : cols ?? this.columns.map((_, k) => k);
    const idx = list.map((c) => this.columnIndex(c));
    const dtype = opts.dtype ?? "float32";
    const integer = dtype === "int32" || dtype === "int64" || dtype === "uint8";
    const out = new Float64Array(this.rows.length * idx.length);
    this.rows.forEach((r, i) => {
      idx.forEach((k, j) => {
        const v = parseNumber(r[k]!);
        const where = `line ${this.lines[i]}, column ${JSON.stringify(this.columns[k])}`;
        if (v === null) throw new ValueError(`CSV: ${JSON.stringify(r[k])} at ${where} is not a number`);
        if (integer && !Number.isInteger(v)) throw new ValueError(`CSV: ${JSON.stringify(r[k])} at ${where} is not an integer (dtype ${dtype})`);
        out[i * idx.length + j] = v;
      });
    });
    const t = tensor(out, { dtype });
    return single ? t : t.reshape([this.rows.length, idx.length]);
  }

  /**
   * A text column as class indices: the distinct values sorted, and each row's index among them
   * (int64 [rows]), like `pandas.factorize` with sorting.
   */
  categorical(col: string | number): { classes: string[]; codes: Tensor } {
    const values = this.column(col);
    const classes = [...new Set(values)].sort();
    const code = new Map(classes.map((c, i) => [c, i]));
    return { classes, codes: tensor(Float64Array.from(values, (v) => code.get(v)!), { dtype: "int64" }) };
  }
}

/**
 * Parses CSV text. Every row must have as many fields as the header (or the first row).
 *
 * @example
 * const t = st.data.parseCsv('name,score\n"Smith, J",3.5\n');
 * t.column("name"); // ["Smith, J"]
 */
export function parseCsv(text: string, opts: CsvOpts = {}): CsvTable {
  const delimiter = opts.delimiter ?? ",";
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === "\n" || delimiter === "\r") {
    throw new ValueError(`CSV: the delimiter must be one character other than a quote or a line break, got ${JSON.stringify(delimiter)}`);
  }
  let recs = records(text, delimiter);
  if (opts.skipEmptyLines ?? true) recs = recs.filter((r) => !r.empty);
  const header = opts.header ?? true;
  if (header && !recs.length) throw new ValueError("CSV: the file is empty (expected a header row)");
  const columns = header ? recs[0]!.fields : Array.from({ length: recs[0]?.fields.length ?? 0 }, (_, k) => String(k));
  if (header) {
    const seen = new Set<string>();
    for (const c of columns) {
      if (seen.has(c)) throw new ValueError(`CSV: the header names column ${JSON.stringify(c)} twice`);
      seen.add(c);
    }
  }
  const body = header ? recs.slice(1) : recs;
  for (const r of body) {
    if (r.fields.length !== columns.length) {
      throw new ValueError(`CSV: line ${r.line} has ${r.fields.length} fields, expected ${columns.length}${header ? " (as the header)" : " (as the first row)"}`);
    }
  }
  return new CsvTable(columns, body.map((r) => r.fields), body.map((r) => r.line));
}

/** Reads a CSV file (UTF-8) and parses it (Node). */
export async function readCsv(path: string, opts: CsvOpts = {}): Promise<CsvTable> {
  const bytes = await readBytes("readCsv", path);
  try {
    return parseCsv(new TextDecoder("utf-8").decode(bytes), opts);
  } catch (e) {
    if (e instanceof ValueError) throw new ValueError(`${e.message} (file ${path})`);
    throw e;
  }
}
