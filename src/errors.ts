import { formatBytes } from "./text/format.ts";

/**
 * One error hierarchy for the whole bot. Every error that can reach a user or decide a retry is an
 * `AppError` with a stable `code`, a `reason` (what happened, as data: the chat side words it in
 * `bot/views/error-view.ts`, a web page could word it its own way) and `retryable`, which is the
 * only thing the queue looks at to decide "retry" or "give up". `message` is the log's text.
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
  | "INTERNAL"
  // What the web API answers about a request itself (`src/web/`), beside the codes above.
  | "BAD_REQUEST"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "PAYLOAD_TOO_LARGE"
  | "RATE_LIMITED";

/** How an item was stopped on purpose (see `StopError`). */
export type StopKind = "cancel" | "pause" | "hold" | "shutdown";

/** A file named in a reason, with its size in bytes. */
export interface NamedSize {
  path: string;
  size: number;
}

/**
 * Why something failed, as data only (numbers, hosts, counts, names): one kind per thing a
 * person is told. The engine makes these; `describeReason` in `bot/views/error-view.ts` words
 * them; `items.last_error` stores them as JSON. Sizes are bytes, times seconds unless named `ms`.
 */
export type ErrorReason =
  /** A bug or a passing fault whose own text may carry internals. */
  | { kind: "unexpected" }
  | { kind: "stopped"; stop: StopKind }
  /** A failure stored as text by a version before reasons (migration 011). */
  | { kind: "legacy"; text: string }
  // The file and the disk.
  | { kind: "tooLarge"; size: number; limit: number }
  | { kind: "overUploadLimit"; size: number; limit: number }
  | { kind: "diskFull" }
  | { kind: "diskNoRoom"; needed: number; free: number }
  | { kind: "diskReserve"; free: number; reserve: number }
  | { kind: "fileMissing" }
  // HTTP and the network. `host` null: the URL had none to name.
  | { kind: "redirectNotHttp"; protocol: string }
  | { kind: "privateNetwork"; host: string; address?: string }
  | { kind: "httpStatus"; host: string | null; status: number; permanent: boolean }
  | { kind: "hostNotFound"; host: string | null }
  | { kind: "redirectLoop"; host: string | null }
  | { kind: "hostTimedOut"; host: string | null }
  | { kind: "connectionFailed"; host: string | null; code: string }
  | { kind: "transferFailed"; host: string | null; code: string | null }
  | { kind: "stalled"; seconds: number }
  | { kind: "tooSlow"; bytesPerSec: number; seconds: number }
  | { kind: "wrongRange" }
  | { kind: "transferCut"; done: number; total: number }
  | { kind: "partCut"; at: number; end: number }
  | { kind: "partsIncomplete"; done: number; total: number }
  /** A bug: a download on one connection was asked for parts. */
  | { kind: "oneConnectionParts" }
  // The queue.
  | { kind: "noHandler"; sourceKind: string }
  | { kind: "tooManyHandoffs" }
  | { kind: "interrupted"; attempt: number; attempts: number }
  // Pages and sites (yt-dlp).
  | { kind: "notAFile" }
  | { kind: "noMedia" }
  | { kind: "scriptedPlayer" }
  | { kind: "pageTooLarge"; limit: number }
  | { kind: "sitePageTimeout"; seconds: number }
  | { kind: "siteLiveStream" }
  | { kind: "siteNoFittingFormat" }
  | { kind: "siteVideoTooLarge"; limit: number }
  | { kind: "ytDlpFailed" }
  // Subscriptions (/watch).
  | { kind: "feedUnreadable" }
  | { kind: "nothingToWatch" }
  // Only the audio (`/audio`).
  | { kind: "noAudioTrack" }
  | { kind: "audioExtractFailed" }
  | { kind: "audioNeedsFfmpeg" }
  // Streams (HLS, DASH).
  | { kind: "streamBadAddress" }
  | { kind: "streamNotHttp"; protocol: string }
  | { kind: "streamLive" }
  | { kind: "streamEncrypted" }
  | { kind: "streamDrm" }
  | { kind: "streamEmptyPlaylist" }
  | { kind: "streamNoSegments" }
  /** `count` null: more than can be counted. */
  | { kind: "streamTooManySegments"; count: number | null; max: number }
  | { kind: "streamUnreadable" }
  | { kind: "streamNoVariants" }
  | { kind: "streamNoRepresentations" }
  | { kind: "streamBadLayout" }
  | { kind: "streamTooLarge"; limit: number }
  | { kind: "streamPlaylistTooLarge" }
  | { kind: "streamPlaylistTimedOut" }
  | { kind: "streamBadKey" }
  | { kind: "streamKeyTimedOut" }
  | { kind: "streamWrongRange" }
  | { kind: "streamSegmentCut" }
  | { kind: "streamUndecryptable" }
  | { kind: "streamUnknownFormat" }
  | { kind: "streamJoinFailed" }
  // Torrents.
  | { kind: "torrentLinkIsPage" }
  | { kind: "torrentLinkTooLarge"; limit: number }
  /** `files`: the first few of the `count` files, each over `limit`. */
  | { kind: "torrentFilesTooLarge"; files: NamedSize[]; count: number; limit: number }
  | { kind: "torrentTooManyFiles"; count: number; max: number }
  | { kind: "invalidMagnet"; problem: "notMagnet" | "v2Only" | "badEncoding" | "noInfoHash" }
  | { kind: "invalidTorrentFile" }
  | { kind: "torrentStalled"; ms: number; peers: number }
  | { kind: "deadTorrent"; ms: number; peers: number }
  | { kind: "torrentClosed" }
  | { kind: "torrentEmpty" }
  /** `detail`: the torrent client's own error text. */
  | { kind: "torrentClientFailed"; detail: string }
  // Telegram's side: uploads, and the files people send (read by the chat side).
  | { kind: "uploadTooBig" }
  | { kind: "uploadRefused"; description: string }
  | { kind: "uploadFailed"; connection: boolean }
  | { kind: "telegramNoFile" }
  | { kind: "telegramFileUnavailable" }
  | { kind: "telegramFileTooBig" }
  | { kind: "telegramFileRefused"; description: string }
  | { kind: "torrentFileTooLarge"; size: number | null; limit: number }
  | { kind: "localFileUnreadable" };

export type ErrorReasonKind = ErrorReason["kind"];

/** What a failure whose own text may carry internals tells the person. */
const UNEXPECTED: ErrorReason = { kind: "unexpected" };

export interface AppErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** What the person is told, as data; `unexpected` when not given. */
  reason?: ErrorReason;
}

export class AppError extends Error {
  override readonly name: string = "AppError";
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly reason: ErrorReason;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.reason = options.reason ?? UNEXPECTED;
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
  constructor(readonly stop: StopKind) {
    super(STOP_CODES[stop], `stopped: ${stop}`, { reason: { kind: "stopped", stop } });
  }
}

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
    super("TOOL_FAILED", message, { retryable: true, reason: UNEXPECTED });
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
    reason: UNEXPECTED,
  });
}

/** A file over the bot's size limit (`maxFileSizeBytes`). */
export function tooLargeError(size: number, limit: number): DownloadError {
  return new DownloadError("TOO_LARGE", `file is ${formatBytes(size)}, over the ${formatBytes(limit)} limit`, {
    reason: { kind: "tooLarge", size, limit },
  });
}

/** Errors of a full disk, from the file system (ENOSPC) or from SQLite. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "SQLITE_FULL" || code === "SQLITE_IOERR_SHMSIZE" || code === "SQLITE_IOERR_WRITE";
}

/** Retried later, once there is space; `reason` says how full (the disk's own check knows). */
export function diskFullError(cause?: unknown, detail = "disk full", reason: ErrorReason = { kind: "diskFull" }): DownloadError {
  return new DownloadError("DISK_FULL", detail, { retryable: true, cause, reason });
}
