import { DownloadError } from "../errors.ts";

/**
 * The speed floor every transfer keeps (aria2's --lowest-speed-limit): a server that sends a byte
 * now and then never trips a stall timer, but must not hold the queue for hours either.
 */
export interface MinSpeed {
  bytesPerSec: number;
  windowMs: number;
}

export function stalledError(stallTimeoutMs: number): DownloadError {
  const s = Math.round(stallTimeoutMs / 1000);
  return new DownloadError("STALLED", `no data for ${s} s`, { retryable: true, reason: { kind: "stalled", seconds: s } });
}

export function tooSlowError(minSpeed: MinSpeed): DownloadError {
  const s = Math.round(minSpeed.windowMs / 1000);
  return new DownloadError("TOO_SLOW", `under ${minSpeed.bytesPerSec} B/s for ${s} s`, {
    retryable: true,
    reason: { kind: "tooSlow", bytesPerSec: minSpeed.bytesPerSec, seconds: s },
  });
}

/**
 * Whether the bytes received over the last `windowMs` fall short of `bytesPerSec` (aria2's
 * --lowest-speed-limit). `samples` are [time, total bytes so far], oldest first. Never true
 * before a whole window has passed. Pure.
 */
export function belowSpeed(samples: ReadonlyArray<readonly [number, number]>, now: number, bytesNow: number, minSpeed: MinSpeed): boolean {
  if (minSpeed.bytesPerSec <= 0 || samples.length === 0) return false;
  // The newest sample at least a window old: the bytes since then are the window's.
  let from: readonly [number, number] | undefined;
  for (const sample of samples) if (now - sample[0] >= minSpeed.windowMs) from = sample;
  if (!from) return false;
  const seconds = (now - from[0]) / 1000;
  return (bytesNow - from[1]) / seconds < minSpeed.bytesPerSec;
}

/** How often to look at a transfer's speed: ten times a window, at most once a second. Pure. */
export function checkIntervalMs(minSpeed: MinSpeed): number {
  return Math.max(50, Math.min(1000, minSpeed.windowMs / 10));
}

/** A transfer's total bytes sampled over time, kept only as far back as one window. */
export class SpeedFloor {
  private readonly samples: Array<[number, number]>;

  constructor(
    private readonly minSpeed: MinSpeed,
    now = Date.now(),
    total = 0,
  ) {
    this.samples = [[now, total]];
  }

  /** True when the last whole window fell short of the floor; else the sample is kept. */
  check(now: number, total: number): boolean {
    if (this.minSpeed.bytesPerSec <= 0) return false;
    if (belowSpeed(this.samples, now, total, this.minSpeed)) return true;
    this.samples.push([now, total]);
    // Only the newest sample older than a window is ever needed.
    while (this.samples.length > 1 && now - this.samples[1]![0] >= this.minSpeed.windowMs) this.samples.shift();
    return false;
  }
}
