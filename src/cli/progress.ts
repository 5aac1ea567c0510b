/**
 * A progress line for long commands (verify, import, demo). It draws on stderr only when stderr is
 * a terminal, so logs, pipes and --json output never contain control characters; elsewhere every
 * call is a no-op. Redraws are throttled (~10/s) so ticking per row costs almost nothing.
 */

export interface Progress {
  /** Records `n` more items done (default 1). */
  tick(n?: number): void;
  /** Draws the final state and ends the line. Later calls do nothing. */
  done(): void;
}

export interface ProgressOptions {
  label: string;
  /** Expected item count; without it the bar shows a count and rate but no percentage or ETA. */
  total?: number;
  /** Where to draw; defaults to process.stderr. Drawing happens only when `isTTY` is true. */
  stream?: { isTTY?: boolean; columns?: number; write(text: string): unknown };
  /** Clock in milliseconds; injectable for tests. */
  now?: () => number;
}

const REDRAW_INTERVAL_MS = 100;
const NOOP: Progress = { tick: () => {}, done: () => {} };

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  if (stream.isTTY !== true) return NOOP;
  const now = options.now ?? (() => performance.now());
  const { label, total } = options;
  const started = now();
  let count = 0;
  let lastDraw = -Infinity;
  let finished = false;

  const draw = (): void => {
    const elapsed = Math.max(now() - started, 1) / 1000;
    // A terminal that reports no size (columns 0 or undefined: a pty nobody sized, some CI
    // consoles) gets 80; fitting to 0 columns would draw an empty line and hide the progress.
    const columns = stream.columns !== undefined && stream.columns > 0 ? stream.columns : 80;
    const line = renderProgressLine({ label, count, total, elapsedSeconds: elapsed, columns });
    // \r returns to column 0; \x1b[K clears what a longer previous line left behind.
    stream.write(`\r${line}\x1b[K`);
  };

  return {
    tick(n = 1) {
      if (finished) return;
      count += n;
      const t = now();
      if (t - lastDraw >= REDRAW_INTERVAL_MS) {
        lastDraw = t;
        draw();
      }
    },
    done() {
      if (finished) return;
      finished = true;
      draw();
      stream.write('\n');
    },
  };
}

export interface ProgressState {
  label: string;
  count: number;
  total: number | undefined;
  elapsedSeconds: number;
  columns: number;
}

/** One line such as `verify [#######-------] 7,000/14,000 50% 3,500/s ETA 2s`, fitted to `columns`. */
export function renderProgressLine(state: ProgressState): string {
  const { label, count, total, elapsedSeconds, columns } = state;
  const rate = count / Math.max(elapsedSeconds, 0.001);
  const rateText = `${formatCount(Math.round(rate))}/s`;

  if (total === undefined || total <= 0) {
    return fit(`${label} ${formatCount(count)} ${rateText}`, columns);
  }
  const fraction = Math.min(count / total, 1);
  const remaining = Math.max(total - count, 0);
  const eta = rate > 0 ? formatSeconds(remaining / rate) : '?';
  const stats = `${formatCount(count)}/${formatCount(total)} ${Math.floor(fraction * 100)}% ${rateText} ETA ${eta}`;
  const barWidth = Math.min(30, columns - label.length - stats.length - 5);
  if (barWidth < 5) return fit(`${label} ${stats}`, columns);
  const filled = Math.round(fraction * barWidth);
  return `${label} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${stats}`;
}

function fit(text: string, columns: number): string {
  // Leave the last column free: writing into it makes some terminals wrap and break the \r redraw.
  return text.length < columns ? text : text.slice(0, Math.max(columns - 1, 0));
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

function formatSeconds(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
