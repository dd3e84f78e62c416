import { utimes, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * The bot's sign of life for the container's health check (`healthcheck.ts`, a separate process
 * that cannot ask the bot anything): a file in `dataDir` that a timer rewrites. A bot whose event
 * loop is stuck stops rewriting it, and a bot that is not running at all leaves it to age.
 */
export const HEARTBEAT_FILE = ".heartbeat";

/** How old the heartbeat may be before the health check calls the bot unhealthy: four beats. */
export const HEARTBEAT_MAX_AGE_MS = 120_000;

export interface HeartbeatOptions {
  /** How often the file is rewritten. Default 30 s. */
  intervalMs?: number;
  /** Told when a beat could not be written (the bot goes on; the file just ages). */
  onError?: (error: unknown) => void;
}

export interface Heartbeat {
  /** Ends the beats, once a beat being written landed; the file stays and ages. */
  stop(): Promise<void>;
}

/**
 * Writes `<dataDir>/.heartbeat` (the current time) now and then every `intervalMs`. The timer is
 * unref'd: it never keeps the process alive on its own.
 *
 * @example
 * const heartbeat = startHeartbeat(config.dataDir, { onError: (e) => logger.warn({ err: String(e) }, "heartbeat not written") });
 * // on the way out
 * heartbeat.stop();
 */
export function startHeartbeat(dataDir: string, options: HeartbeatOptions = {}): Heartbeat {
  const { intervalMs = 30_000, onError = () => {} } = options;
  if (!Number.isInteger(intervalMs) || intervalMs <= 0) throw new RangeError(`intervalMs: expected a positive whole number of milliseconds, got ${intervalMs}`);
  const file = path.resolve(dataDir, HEARTBEAT_FILE);
  // A write still under way (a stalled disk) is not joined by another: beats never pile up.
  let writing: Promise<void> | undefined;
  const beat = () => {
    if (writing) return;
    writing = touch(file)
      .catch(onError)
      .finally(() => (writing = undefined));
  };
  beat();
  const timer = setInterval(beat, intervalMs);
  timer.unref();
  return {
    // A beat still being written lands before stop resolves: nothing writes into dataDir after it.
    stop: async () => {
      clearInterval(timer);
      await writing;
    },
  };
}

/**
 * Rewrites the file with the time. On a full disk that write can fail, yet the bot is sound (it
 * reports the full disk itself): setting the file's times needs no free block, so that is the
 * fallback, and the health check, which reads only the modification time, still sees the beat.
 */
async function touch(file: string): Promise<void> {
  const now = new Date();
  try {
    await writeFile(file, `${now.toISOString()}\n`);
  } catch (error) {
    await utimes(file, now, now).catch(() => {
      throw error;
    });
  }
}

/**
 * Whether a heartbeat last written at `mtimeMs` is fresh at `nowMs`. A time in the future by more
 * than `maxAgeMs` (the clock was set back) is not fresh either: otherwise a dead bot's heartbeat
 * would look alive until the clock caught up; a live bot rewrites it at its next beat. Pure.
 */
export function heartbeatFresh(mtimeMs: number, nowMs: number, maxAgeMs: number = HEARTBEAT_MAX_AGE_MS): boolean {
  const age = nowMs - mtimeMs;
  return age < maxAgeMs && age > -maxAgeMs;
}
