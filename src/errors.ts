import { formatBytes } from "./text/format.ts";

/**
 * One error hierarchy for the whole bot. Every error that can reach a user or decide a retry is an
 * `AppError` with a stable `code`, a one-line `userMessage` (what happened and what to do, never a
 * stack trace) and `retryable`, which is the only thing the queue looks at to decide "retry" or
 * "give up".
 */
export type ErrorCode =
  | "CONFIG_INVALID"
  | "CONFIG_MISSING"
  | "MIGRATION_FAILED"
  | "STARTUP_FAILED"
  | "INVALID_URL"
  | "PRIVATE_NETWORK"
  | "TOO_LARGE"
  | "HTTP_PERMANENT"
  | "HTTP_TRANSIENT"
  | "NETWORK"
  | "STALLED"
  | "TOO_SLOW"
  | "DISK_FULL"
  | "UPLOAD_FAILED"
  | "NO_MEDIA"
  | "DEAD_TORRENT"
  | "TORRENT_FAILED"
  | "INTERRUPTED"
  | "CANCELLED"
  | "PAUSED"
  | "HELD"
  | "SHUTDOWN"
  | "FILE_MISSING"
  | "TOOL_FAILED"
  | "INTERNAL";

export interface AppErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** Shown to the user; defaults to the message. */
  userMessage?: string;
}

export class AppError extends Error {
  override readonly name: string = "AppError";
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly userMessage: string;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.userMessage = options.userMessage ?? message;
  }
}

/** The configuration cannot be used; main prints `message` and exits with code 2. */
export class ConfigError extends AppError {
  override readonly name = "ConfigError";
  constructor(code: "CONFIG_INVALID" | "CONFIG_MISSING", message: string) {
    super(code, message);
  }
}

/** A URL or argument a person sent that we will not accept. Never retried. */
export class InputError extends AppError {
  override readonly name = "InputError";
}

/** A transfer failed; `retryable` tells whether waiting can help. */
export class DownloadError extends AppError {
  override readonly name = "DownloadError";
}

/** Each stop's own code: a shutdown is not a pause, nor a held queue. */
const STOP_CODES = { cancel: "CANCELLED", pause: "PAUSED", hold: "HELD", shutdown: "SHUTDOWN" } as const;

/**
 * The transfer was stopped on purpose; not a failure. "pause" sets the item aside, "hold" puts it
 * back in line because the whole queue was paused, "shutdown" because the process is stopping.
 */
export class StopError extends AppError {
  override readonly name = "StopError";
  constructor(readonly reason: "cancel" | "pause" | "hold" | "shutdown") {
    super(STOP_CODES[reason], `stopped: ${reason}`);
  }
}

/** What an unexpected failure tells the user: its own text may carry internals. */
const UNEXPECTED = "an unexpected error happened; it will be retried (details are in the bot's log)";

/**
 * An external tool (ffmpeg, ffprobe, yt-dlp) failed: a non-zero exit, its time limit, a stall or
 * too much output. `stderr` holds the tail of what it wrote there, for the log. Callers map it
 * onto what it means for the item; one that escapes is retried with the same generic line as any
 * unexpected error, since its text is the tool's, not the user's.
 */
export class ToolError extends AppError {
  override readonly name = "ToolError";
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super("TOOL_FAILED", message, { retryable: true, userMessage: UNEXPECTED });
  }
}

/** Why an aborted handler stopped: the StopError its signal was aborted with, else a shutdown. */
export function stopReason(signal: AbortSignal): StopError {
  return signal.reason instanceof StopError ? signal.reason : new StopError("shutdown");
}

/**
 * Wraps anything thrown into an AppError so callers only deal with one shape. Unknown errors are
 * retryable (a bug or a passing fault) and show a generic line: their text may carry internals.
 */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isDiskFull(error)) return diskFullError(error);
  return new AppError("INTERNAL", error instanceof Error ? error.message : String(error), {
    retryable: true,
    cause: error,
    userMessage: UNEXPECTED,
  });
}

/** A file over the bot's size limit (`maxFileSizeBytes`). */
export function tooLargeError(size: number, limit: number): DownloadError {
  return new DownloadError("TOO_LARGE", `file is ${formatBytes(size)}, over the ${formatBytes(limit)} limit`, {
    userMessage: `the file is ${formatBytes(size)}, over this bot's limit of ${formatBytes(limit)}.`,
  });
}

/** Errors of a full disk, from the file system (ENOSPC) or from SQLite. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "SQLITE_FULL" || code === "SQLITE_IOERR_SHMSIZE" || code === "SQLITE_IOERR_WRITE";
}

export function diskFullError(
  cause?: unknown,
  detail = "disk full",
  userMessage = "the bot's disk is full; the download is tried again later, once there is space (free some on the server).",
): DownloadError {
  return new DownloadError("DISK_FULL", detail, { retryable: true, cause, userMessage });
}
