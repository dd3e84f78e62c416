import type { Dispatcher } from "undici";
import { type AddressPolicy, type Resolver, assertPublicHost, createGuardedLookup } from "../../net/address-guard.ts";

/**
 * How HTTP(S) trackers are asked. bittorrent-tracker 11.2.3 (webtorrent 3's tracker client, through torrent-discovery)
 * sends each announce with the global `fetch` and hands it `proxyOpts.httpAgent`/`httpsAgent` as
 * its `dispatcher`; every connection that fetch opens for it goes through this one, which is what
 * lets the bot guard trackers from outside the library:
 *
 * - each connection is checked like the bot's own downloads: an IP literal against the address
 *   policy, a name through the guarded lookup (every address it resolves to, at connect time);
 * - a redirect is not followed: the announce fails like a tracker that is down. Following it
 *   through the guard would be safe, but each hop gets a fresh timer here, and an answer still
 *   arriving when the library's own 15 s abort fires rejects a promise nobody handles inside it;
 * - an answer is at most `maxBytes` and takes at most `timeoutMs` (shorter than those 15 s). The
 *   library reads the whole body into memory; past either limit the body handed on is cut short
 *   (it then fails to decode, a warning), because an error after the headers would again reject
 *   that unhandled promise. For the same reason a connection lost mid-body ends the body.
 */
export interface TrackerHttpOptions {
  policy: AddressPolicy;
  resolve?: Resolver;
  /** Most bytes one tracker answer may have (default 64 KiB: a full answer is a few KB). */
  maxBytes?: number;
  /** Longest one tracker request may take, connecting included (default 10 s). */
  timeoutMs?: number;
}

/** What `fetch` passes as the dispatcher's handler: undici's callback API, which fetch uses in Node 20 and 24. */
interface FetchHandler {
  onConnect?(abort: (err?: Error) => void, context?: unknown): void;
  onResponseStarted?(): void;
  onHeaders?(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: string[] | null): void;
  onError?(err: Error): void;
  onBodySent?(chunkSize: number, totalBytesSent: number): void;
  onRequestSent?(): void;
}

export interface TrackerDispatcher {
  dispatch(options: Dispatcher.DispatchOptions, handler: FetchHandler): boolean;
  close(): Promise<void>;
}

const TRACKER_ANSWER_MAX_BYTES = 64 * 1024;
const TRACKER_TIMEOUT_MS = 10_000;

/** undici (the fetch of Node itself, as a package) is loaded with webtorrent, on the first torrent. */
export async function createTrackerDispatcher(options: TrackerHttpOptions): Promise<TrackerDispatcher> {
  const { Agent, buildConnector } = await import("undici");
  const maxBytes = options.maxBytes ?? TRACKER_ANSWER_MAX_BYTES;
  const timeoutMs = options.timeoutMs ?? TRACKER_TIMEOUT_MS;
  const direct = buildConnector({ lookup: createGuardedLookup(options.policy, options.resolve), timeout: timeoutMs });
  const agent = new Agent({
    // Node skips the lookup for an IP literal: that one is checked here.
    connect: (connectOptions, callback) => {
      try {
        assertPublicHost(connectOptions.hostname, options.policy);
      } catch (error) {
        callback(error as Error, null);
        return;
      }
      direct(connectOptions, callback);
    },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  return {
    dispatch: (dispatchOptions, handler) => agent.dispatch(dispatchOptions, new TrackerAnswer(handler, maxBytes, timeoutMs)),
    // Requests still open are ended (each is short anyway): a stop must not wait for a tracker.
    close: () => agent.destroy(),
  };
}

/** One tracker request's handler between undici and fetch: the limits above. */
class TrackerAnswer implements FetchHandler {
  private abort?: (err?: Error) => void;
  private finished = false;
  /** Headers went on to fetch: its promise has resolved, so only the body can still end. */
  private headed = false;
  private bytes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly inner: FetchHandler,
    private readonly maxBytes: number,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => {
      if (this.headed) this.cut(new Error(`tracker answer took over ${timeoutMs} ms`));
      else this.fail(new Error(`tracker did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    this.timer.unref();
  }

  onConnect(abort: (err?: Error) => void, context?: unknown): void {
    this.abort = abort;
    if (this.finished) abort(new Error("tracker request already ended"));
    else this.inner.onConnect?.(abort, context);
  }

  onResponseStarted(): void {
    if (!this.finished) this.inner.onResponseStarted?.();
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.finished) return false;
    if (statusCode >= 300 && statusCode < 400) {
      this.fail(new Error(`tracker answered ${statusCode} (a redirect), which is not followed`));
      return false;
    }
    const length = contentLength(headers);
    if (length !== null && length > this.maxBytes) {
      this.fail(new Error(`tracker answer of ${length} bytes is over ${this.maxBytes}`));
      return false;
    }
    this.headed = true;
    return this.inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }

  onData(chunk: Buffer): boolean {
    if (this.finished) return false;
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      this.cut(new Error(`tracker answer over ${this.maxBytes} bytes`));
      return false;
    }
    return this.inner.onData?.(chunk) ?? true;
  }

  onComplete(trailers: string[] | null): void {
    if (this.end()) this.inner.onComplete?.(trailers);
  }

  onError(err: Error): void {
    if (!this.end()) return;
    // After the headers, a lost connection or a timeout ends the body (see the module comment).
    if (this.headed) this.inner.onComplete?.([]);
    else this.inner.onError?.(err);
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.inner.onBodySent?.(chunkSize, totalBytesSent);
  }

  onRequestSent(): void {
    this.inner.onRequestSent?.();
  }

  /** Marks the request ended; false when it already was. */
  private end(): boolean {
    if (this.finished) return false;
    this.finished = true;
    clearTimeout(this.timer);
    return true;
  }

  /** Before the headers: fetch rejects, which the library catches. */
  private fail(reason: Error): void {
    if (!this.end()) return;
    this.inner.onError?.(reason);
    this.abort?.(reason);
  }

  /** After the headers: the body ends where it is (see the module comment), the connection is dropped. */
  private cut(reason: Error): void {
    if (!this.end()) return;
    this.inner.onComplete?.([]);
    this.abort?.(reason);
  }
}

function contentLength(headers: Buffer[]): number | null {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i]!.toString("latin1").toLowerCase() === "content-length") {
      const n = Number(headers[i + 1]!.toString("latin1").trim());
      return Number.isFinite(n) ? n : null;
    }
  }
  return null;
}
