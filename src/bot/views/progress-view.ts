import { escapeHtml, formatBytes, formatDuration, truncate } from "../../text/format.ts";

export type Phase = "starting" | "downloading" | "uploading";

export interface ProgressState {
  /** Shown before the name, so `/cancel 12` needs no look-up. */
  itemId?: number;
  title: string;
  phase: Phase;
  bytesDone: number;
  totalBytes: number | null;
  /** Bytes per second, or null while unknown. */
  speed: number | null;
  waiting: number;
  note?: string;
  details?: string[];
  /** For "attempt 2 of 4". */
  attempt?: number;
  attempts?: number;
  paused?: boolean;
  /** Back in line (resumed), waiting for its turn. */
  queued?: boolean;
  /** How long this attempt has been running. */
  elapsedMs?: number;
}

const BAR_WIDTH = 16;

export function progressBar(fraction: number): string {
  const f = Math.min(1, Math.max(0, fraction));
  const full = Math.round(f * BAR_WIDTH);
  return "█".repeat(full) + "░".repeat(BAR_WIDTH - full);
}

const PHASE_LABEL: Record<Phase, string> = {
  starting: "⏳ Starting",
  downloading: "⬇️ Downloading",
  uploading: "⬆️ Uploading",
};

/** The live progress message, as HTML. Pure: same state, same text (so unchanged edits are skipped). */
export function renderProgress(s: ProgressState): string {
  const lines: string[] = [`${s.itemId !== undefined ? `#${s.itemId} ` : ""}<b>${escapeHtml(truncate(s.title, 200))}</b>`];
  const elapsed = s.elapsedMs !== undefined ? ` · ${formatDuration(s.elapsedMs)} elapsed` : "";
  const label = s.paused ? "⏸ Paused" : s.queued ? "⏳ Waiting in line" : PHASE_LABEL[s.phase];
  const attempt = s.attempt && s.attempt > 1 && s.attempts ? ` (attempt ${s.attempt} of ${s.attempts})` : "";
  // Before the first byte there is nothing to measure yet: say what is going on instead.
  const note = s.note ?? (s.phase === "starting" && s.bytesDone === 0 && !s.paused && !s.queued ? "connecting…" : undefined);
  // The time it has taken goes with the numbers, or, without them, with the phase.
  lines.push(`${label}${attempt}${note ? elapsed : ""}`);
  if (note) {
    lines.push(escapeHtml(note));
  } else if (s.totalBytes && s.totalBytes > 0) {
    const fraction = s.bytesDone / s.totalBytes;
    lines.push(`${progressBar(fraction)} ${Math.floor(Math.min(1, fraction) * 100)}%`);
    const eta = s.speed && s.speed > 0 ? formatDuration(((s.totalBytes - s.bytesDone) / s.speed) * 1000) : "?";
    lines.push(`${formatBytes(s.bytesDone)} / ${formatBytes(s.totalBytes)} · ${speedText(s.speed)} · ETA ${eta}${elapsed}`);
  } else {
    lines.push(`${formatBytes(s.bytesDone)} of unknown size · ${speedText(s.speed)}${elapsed}`);
  }
  for (const d of s.details ?? []) lines.push(escapeHtml(d));
  lines.push(s.waiting > 0 ? `${s.waiting} waiting in the queue` : "nothing else waiting");
  return lines.join("\n");
}

function speedText(speed: number | null): string {
  return speed === null ? "– /s" : `${formatBytes(speed)}/s`;
}

export function renderDelivered(title: string, bytes: number, files = 1): string {
  const what = files > 1 ? `${files} files, ${formatBytes(bytes)}` : formatBytes(bytes);
  return `✅ <b>${escapeHtml(truncate(title, 200))}</b>: delivered (${what})`;
}

/** An item that ended with a line rather than a file (a page's summary, an item with nothing to send). */
export function renderDone(title: string, line: string, kind: "page" | "item"): string {
  return `${kind === "page" ? "📄" : "✅"} <b>${escapeHtml(truncate(title, 200))}</b>: ${escapeHtml(line)}`;
}

export function renderCancelled(title: string): string {
  return `✖️ <b>${escapeHtml(truncate(title, 200))}</b>: cancelled`;
}

export function renderFailed(title: string, reason: string): string {
  return `❌ <b>${escapeHtml(truncate(title, 200))}</b>: failed: ${escapeHtml(truncate(reason, 600))}`;
}

export function renderRetrying(title: string, reason: string, attempt: number, attempts: number, inMs: number): string {
  return (
    `🔁 <b>${escapeHtml(truncate(title, 200))}</b>: attempt ${attempt} of ${attempts} failed: ${escapeHtml(truncate(reason, 500))}\n` +
    `Next try in ${formatDuration(inMs)}.`
  );
}

/**
 * Speed over a sliding window, so one burst or pause does not swing the number. Pure: the caller
 * passes the clock.
 */
export class SpeedMeter {
  private samples: Array<{ at: number; bytes: number }> = [];
  constructor(private readonly windowMs = 10_000) {}

  add(at: number, bytesTotal: number): void {
    // Called for every chunk: keep at most one sample per 100 ms. The newest sample moves forward
    // until it is 100 ms past the one before it (measured from that one, not from itself, or a
    // steady stream of chunks would keep moving it and the window would never slide).
    const last = this.samples[this.samples.length - 1];
    const before = this.samples[this.samples.length - 2];
    if (last && before && at - before.at < 100) {
      last.bytes = bytesTotal;
      last.at = at;
    } else {
      this.samples.push({ at, bytes: bytesTotal });
    }
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs) this.samples.shift();
  }

  /** Bytes per second, or null with fewer than two samples a quarter second apart. */
  speed(): number | null {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at < 250) return null;
    return Math.max(0, ((last.bytes - first.bytes) * 1000) / (last.at - first.at));
  }
}
