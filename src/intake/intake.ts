import type { Got } from "got";
import type { Db } from "../db/database.ts";
import { findItemByRequest, insertItem, queuePosition } from "../db/item-repository.ts";
import { type AppError, InputError, toAppError, tooLargeError } from "../errors.ts";
import type { SourceKind, Wants } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import { isHtml } from "../sources/content-kind.ts";
import { probeUrl } from "../sources/http-probe.ts";
import type { FoundOutcome } from "../sources/source.ts";
import { overUploadLimitError } from "../queue/upload-parts.ts";
import { safeFileName } from "../storage/paths.ts";

export interface IntakeDeps {
  db: Db;
  http: Got;
  logger: Logger;
  maxFileSizeBytes: number;
  /** Largest single upload, and whether a file over it is split (else refused before download). */
  uploadLimitBytes?: number;
  splitLargeFiles?: boolean;
  /** A .torrent holding more files than this is refused at once (`torrent.maxFiles`). */
  torrentMaxFiles?: number;
  now?: () => number;
  /** Called after an item is stored, to wake the worker. */
  onQueued?: () => void;
}

export interface IntakeRequest {
  chatId: number;
  userId: number | null;
  requestMessageId?: number | null;
  url: string;
  sourceKind?: SourceKind;
  /** A name to use instead of the one the server suggests (e.g. a page's title). */
  title?: string;
  /** Skip the HTTP size pre-check (torrents have no HEAD). */
  skipProbe?: boolean;
  /** The size when already known. */
  sizeBytes?: number | null;
  /** `sizeBytes` adds up several files (a torrent's): the per-file limit does not apply to it. */
  sizeIsTotal?: boolean;
  /** The stored request this comes from (see `request-queue.ts`): its item is stored once only. */
  requestId?: number;
  /** What was asked of its media (`/audio`: only the audio); default `{}`. */
  wants?: Wants;
  /**
   * Refuse the URL when the pre-check shows a web page: links found on a page must be files
   * (a page of pages is not crawled further).
   */
  expectFile?: boolean;
}

/** What became of a request: queued, already open in the chat, or refused with the reason. */
export type IntakeOutcome = FoundOutcome;

/** What the pre-check learnt of a URL: what to store, or why it is refused. */
export type CheckedUrl = { ok: true; title: string | undefined; size: number | null } | { ok: false; error: AppError };

/**
 * Everything a URL goes through before it may enter the queue: the private-network guard and the
 * size pre-check (both in the probe), the size limit, and the duplicate rule of the database.
 */
export async function enqueueUrl(deps: IntakeDeps, request: IntakeRequest): Promise<IntakeOutcome> {
  return storeChecked(deps, request, await checkUrl(deps, request));
}

/**
 * The network half of intake (the probe, which can take a while on a slow server): nothing is
 * stored. Runs in parallel for many links; `storeChecked` then stores them in order.
 */
export async function checkUrl(deps: IntakeDeps, request: IntakeRequest): Promise<CheckedUrl> {
  let title = request.title;
  let size: number | null = request.sizeBytes ?? null;
  if (!request.skipProbe) {
    try {
      const probe = await probeUrl(deps.http, request.url);
      if (request.expectFile && probe.contentType && isHtml(probe.contentType)) {
        return { ok: false, error: notAFileError(request.url) };
      }
      // A page's own size says nothing about the files on it (the crawler caps what it reads).
      size = probe.contentType && isHtml(probe.contentType) ? null : probe.size;
      title ??= probe.title;
    } catch (thrown) {
      const error = toAppError(thrown);
      // A passing fault (a 503, a timeout) is the queue's to retry; anything else is refused now.
      if (!error.retryable) return { ok: false, error };
      deps.logger.info({ url: request.url, code: error.code }, "size pre-check failed; queueing anyway");
    }
  }
  if (size !== null && !request.sizeIsTotal && size > deps.maxFileSizeBytes) {
    return { ok: false, error: tooLargeError(size, deps.maxFileSizeBytes) };
  }
  // What goes up of a video asked for its audio is far smaller: its size is checked once it is out.
  const upload = request.wants?.audioOnly ? null : size;
  if (upload !== null && !request.sizeIsTotal && deps.splitLargeFiles === false && deps.uploadLimitBytes !== undefined && upload > deps.uploadLimitBytes) {
    return { ok: false, error: overUploadLimitError(upload, deps.uploadLimitBytes) };
  }
  return { ok: true, title, size };
}

/** The database half of intake: stores a checked URL as an item, unless the chat has it open. */
export async function storeChecked(deps: IntakeDeps, request: IntakeRequest, checked: CheckedUrl): Promise<IntakeOutcome> {
  const now = deps.now ?? Date.now;
  if (!checked.ok) return { status: "refused", error: checked.error };
  // A request stored before a crash may have become its item already: never twice.
  const earlier = request.requestId !== undefined ? await findItemByRequest(deps.db, request.requestId) : undefined;
  if (earlier) return { status: "queued", item: earlier, position: await queuePosition(deps.db, earlier) };
  const result = await insertItem(
    deps.db,
    {
      chatId: request.chatId,
      userId: request.userId,
      requestMessageId: request.requestMessageId ?? null,
      url: request.url,
      sourceKind: request.sourceKind ?? "direct",
      title: safeTitle(checked.title ?? request.url),
      sizeBytes: checked.size,
      ...(request.requestId !== undefined ? { requestId: request.requestId } : {}),
      ...(request.wants ? { wants: request.wants } : {}),
    },
    now(),
  );
  if (!result.inserted) {
    const existing = result.existing;
    return {
      status: "duplicate",
      item: existing,
      position: existing.status === "queued" ? await queuePosition(deps.db, existing) : null,
    };
  }
  deps.onQueued?.();
  return { status: "queued", item: result.item, position: await queuePosition(deps.db, result.item) };
}

function notAFileError(url: string): AppError {
  return new InputError("NO_MEDIA", `${url} is a web page, not a file`, {
    reason: { kind: "notAFile" },
  });
}

function safeTitle(title: string): string {
  return safeFileName(title.trim().slice(0, 300), "download");
}
