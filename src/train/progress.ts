/**
 * The training progress display: a bar redrawn in place on a terminal, or plain lines where the
 * output is not a terminal (a file, a pipe, CI), so logs stay readable. It writes to stderr, so
 * that a program's own results on stdout stay clean.
 *
 *     epoch 2/5 [##########..........] 234/469  loss 0.1234  accuracy 96.12%  2,035 samples/s  ETA 0:07
 */

export type ProgressMode = "bar" | "lines" | "none";

/** The stream a progress display writes to: what it needs of `process.stderr`. */
export interface ProgressStream {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** "bar" on a terminal (not in CI), "lines" otherwise. */
export function autoMode(stream: ProgressStream = process.stderr): ProgressMode {
  return stream.isTTY && !process.env.CI ? "bar" : "lines";
}

/** m:ss or h:mm:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}` : `${m}:${String(r).padStart(2, "0")}`;
}

/** A value for a progress line: 4 significant decimals, percentages for accuracies. */
export function formatValue(name: string, v: unknown): string {
  if (typeof v !== "number") return String(v);
  if (/accuracy|^acc/i.test(name)) return `${(v * 100).toFixed(2)}%`;
  if (name === "lr" || name.endsWith("Lr")) return v.toExponential(2);
  return Math.abs(v) >= 1000 ? v.toFixed(1) : v.toFixed(4);
}

export interface ProgressOpts {
  mode?: ProgressMode;
  stream?: ProgressStream;
  /** In "lines" mode, at most one line per this many seconds within an epoch (default 10). */
  lineEverySeconds?: number;
  /** In "bar" mode, at most one redraw per this many milliseconds (default 100). */
  redrawMs?: number;
  /** The clock, in milliseconds (tests pass their own). */
  now?: () => number;
}

/** One epoch's (or one evaluation's) progress: `start`, `update` per batch, `finish`. */
export class ProgressBar {
  readonly mode: ProgressMode;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly lineEvery: number;
  private readonly redrawMs: number;
  private label = "";
  private total: number | undefined;
  private t0 = 0;
  private lastDraw = -Infinity;
  private samples = 0;
  private drawn = false;

  constructor(opts: ProgressOpts = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.mode = opts.mode ?? autoMode(this.stream);
    this.now = opts.now ?? (() => performance.now());
    this.lineEvery = (opts.lineEverySeconds ?? 10) * 1000;
    this.redrawMs = opts.redrawMs ?? 100;
  }

  /** Begins a pass of `total` batches (unknown: no bar, no ETA). */
  start(label: string, total?: number): void {
    this.label = label;
    this.total = total;
    this.t0 = this.now();
    this.lastDraw = this.mode === "lines" ? this.t0 : -Infinity;
    this.samples = 0;
  }

  /** After batch `done` (1-based) with `samples` seen so far in this pass and the running values. */
  update(done: number, samples: number, values: Record<string, unknown>): void {
    this.samples = samples;
    if (this.mode === "none") return;
    const t = this.now();
    const last = this.total !== undefined && done >= this.total;
    if (this.mode === "bar") {
      if (!last && t - this.lastDraw < this.redrawMs) return;
      this.lastDraw = t;
      this.stream.write(`\r\x1b[2K${this.fit(this.line(done, values, t))}`);
      this.drawn = true;
    } else if (t - this.lastDraw >= this.lineEvery && !last) {
      this.lastDraw = t;
      this.stream.write(`${this.line(done, values, t)}\n`);
    }
  }

  /** Ends the pass with a summary line (kept on screen). */
  finish(summary: string): void {
    if (this.mode === "none") return;
    if (this.mode === "bar" && this.drawn) this.stream.write("\r\x1b[2K");
    this.drawn = false;
    this.stream.write(`${summary}\n`);
  }

  /** Prints a line above the bar (a callback's message) without garbling it. */
  print(msg: string): void {
    if (this.mode === "bar" && this.drawn) this.stream.write(`\r\x1b[2K${msg}\n`);
    else this.stream.write(`${msg}\n`);
    this.lastDraw = -Infinity; // redraw the bar at the next update
  }

  /** Seconds since `start`, and samples per second. */
  get elapsed(): number {
    return (this.now() - this.t0) / 1000;
  }
  get rate(): number {
    const s = this.elapsed;
    return s > 0 ? this.samples / s : 0;
  }

  private line(done: number, values: Record<string, unknown>, t: number): string {
    const secs = (t - this.t0) / 1000;
    const parts = [this.label];
    if (this.total !== undefined) {
      const width = 20, frac = Math.min(1, done / Math.max(1, this.total)), full = Math.round(frac * width);
      if (this.mode === "bar") parts.push(`[${"#".repeat(full)}${".".repeat(width - full)}]`);
      parts.push(`${done}/${this.total}`);
    } else {
      parts.push(`${done}`);
    }
    for (const [k, v] of Object.entries(values)) parts.push(`${k} ${formatValue(k, v)}`);
    if (secs > 0) parts.push(`${Math.round(this.samples / secs).toLocaleString("en-US")} samples/s`);
    if (this.total !== undefined && done > 0 && done < this.total) parts.push(`ETA ${formatDuration((secs / done) * (this.total - done))}`);
    return parts.join("  ");
  }

  private fit(s: string): string {
    const cols = this.stream.columns ?? 0;
    return cols > 10 && s.length >= cols ? s.slice(0, cols - 1) : s;
  }
}
