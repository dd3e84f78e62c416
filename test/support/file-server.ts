/**
 * A local HTTP file server for end-to-end tests of the downloader: real sockets on 127.0.0.1,
 * byte ranges and conditional requests the way real servers answer them, plus fault injection
 * (error statuses, dropped and stalled connections) and throttling so a test can act while a
 * download is in flight.
 *
 * Everything a test needs to synchronise on is observable: `requests` is updated as bytes go
 * out, and `waitForRequest` / `waitForBytes` resolve on the event itself instead of after a sleep.
 */
import { createCipheriv, createHash } from "node:crypto";
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Waitlist } from "./waitlist.ts";

export interface ServedRequest {
  seq: number;
  method: string;
  /** Decoded path without the query string, as passed to `addFile`. */
  path: string;
  /** The raw request target, query included. */
  url: string;
  range?: string;
  ifRange?: string;
  status: number;
  /** Body bytes handed to the kernel so far; updated while the body is being sent. */
  bytesSent: number;
  /** Date.now() when the response status was decided. */
  at: number;
  /**
   * "sending" while the body goes out, "stalled" while a stall fault holds it, "complete" once
   * the response ended normally, "dropped" when a drop fault cut it, "aborted" when the client
   * (or `stop()`) closed the connection first.
   */
  state: "sending" | "stalled" | "complete" | "dropped" | "aborted";
}

export interface FileOptions {
  contentType?: string;
  contentDisposition?: string;
  /** Default: a strong ETag derived from the SHA-256 of the body. `false` sends none. */
  etag?: string | false;
  /** Default: the time of `addFile`. `false` sends none. */
  lastModified?: string | false;
  /** Default true. false: Range is ignored (always 200) and no Accept-Ranges is sent. */
  acceptRanges?: boolean;
  /** Default false. true: Accept-Ranges is sent but Range ignored (always 200), as some misconfigured servers do. */
  ignoreRanges?: boolean;
  /** Default true. false: HEAD answers 405. */
  allowHead?: boolean;
  /** Default true. false: no Content-Length, the body goes out chunked. */
  sendLength?: boolean;
}

export type Fault =
  /** Answer this status for the next `times` GETs (default: forever). */
  | { kind: "status"; status: number; times?: number }
  /** Destroy the socket after this many body bytes. */
  | { kind: "drop"; afterBytes: number; times?: number }
  /** Stop sending after this many body bytes (socket stays open) until `releaseStalls` or the client gives up. */
  | { kind: "stall"; afterBytes: number; times?: number }
  /** Hold the next `times` HEAD requests before answering (a slow server) until `releaseStalls`. */
  | { kind: "holdHead"; times?: number };

interface FileEntry {
  kind: "file";
  body: Buffer;
  sha256: string;
  contentType: string;
  contentDisposition?: string;
  etag?: string;
  lastModified?: string;
  acceptRanges: boolean;
  ignoreRanges: boolean;
  allowHead: boolean;
  sendLength: boolean;
}

interface RedirectEntry {
  kind: "redirect";
  to: string;
  status: number;
}

type Entry = FileEntry | RedirectEntry;

interface FaultState {
  fault: Fault;
  /** Remaining applications; undefined = forever. */
  remaining: number | undefined;
}

type BodyFault = Extract<Fault, { kind: "drop" | "stall" }>;

/** Chunk size when not throttled: large enough to be fast, small enough to keep progress visible. */
const CHUNK = 64 * 1024;
/** Upper bound for a throttled chunk, so throttled progress is smooth. */
const THROTTLED_CHUNK = 16 * 1024;

export class FileServer {
  readonly baseUrl: string;
  readonly requests: ServedRequest[] = [];
  /** The highest number of bodies ever sent at the same time. */
  maxConcurrentTransfers = 0;

  private readonly entries = new Map<string, Entry>();
  private readonly faults = new Map<string, FaultState[]>();
  private readonly throttles = new Map<string, number>();
  private readonly requestThrottles = new Map<string, (r: ServedRequest) => number | null>();
  /** Wakes throttled sleeps (on throttle change) and stalls (on release), per path. */
  private readonly throttleWakers = new Map<string, Set<() => void>>();
  private readonly stallWakers = new Map<string, Set<() => void>>();
  private readonly sockets = new Set<Socket>();
  private readonly requestWaiters = new Waitlist<ServedRequest>();
  /** Paths of HEAD requests held so far (see the holdHead fault), in order. */
  readonly heldHeads: string[] = [];
  private readonly heldWaiters = new Waitlist<string>();
  private readonly progressWaiters = new Waitlist<ServedRequest>();
  private active = 0;
  private stopped = false;

  private constructor(private readonly server: Server) {
    const { port } = server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${port}`;
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<FileServer> {
    const server = createServer();
    // Keep idle keep-alive sockets open: a server closing them races with client reuse and
    // causes spurious "socket hang up" errors. stop() closes everything.
    server.keepAliveTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const fs = new FileServer(server);
    server.on("request", (req, res) => fs.handle(req, res));
    return fs;
  }

  /**
   * Deterministic pseudo-random content: the same (size, seed) always gives the same bytes.
   * AES-CTR over zeros is both fast and well mixed, so ranges of a big file are distinguishable.
   */
  static randomBytes(size: number, seed = 1): Buffer {
    const key = createHash("sha256").update(`file-server-seed:${seed}`).digest().subarray(0, 16);
    const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
    const out = Buffer.allocUnsafe(size);
    const zeros = Buffer.alloc(Math.min(size, 1 << 20));
    for (let pos = 0; pos < size; pos += zeros.length) {
      const n = Math.min(zeros.length, size - pos);
      cipher.update(zeros.subarray(0, n)).copy(out, pos);
    }
    return out;
  }

  /** Serves `body` at `path` (replacing what was there). Returns its absolute URL. */
  addFile(path: string, body: Buffer, opts: FileOptions = {}): { url: string; sha256: string; size: number } {
    const p = normalizePath(path);
    const sha256 = createHash("sha256").update(body).digest("hex");
    this.entries.set(p, {
      kind: "file",
      body,
      sha256,
      contentType: opts.contentType ?? "application/octet-stream",
      contentDisposition: opts.contentDisposition,
      etag: opts.etag === false ? undefined : (opts.etag ?? `"${sha256.slice(0, 32)}"`),
      lastModified: opts.lastModified === false ? undefined : (opts.lastModified ?? httpDate(new Date())),
      acceptRanges: opts.acceptRanges ?? true,
      ignoreRanges: opts.ignoreRanges ?? false,
      allowHead: opts.allowHead ?? true,
      sendLength: opts.sendLength ?? true,
    });
    return { url: this.urlFor(p), sha256, size: body.length };
  }

  /** Answers `from` with a redirect to `to` (a path on this server or an absolute URL). Returns the URL of `from`. */
  addRedirect(from: string, to: string, status = 302): string {
    const p = normalizePath(from);
    this.entries.set(p, { kind: "redirect", to, status });
    return this.urlFor(p);
  }

  /** Serves an HTML page (text/html; charset=utf-8). Returns its URL. */
  addHtml(path: string, html: string): string {
    return this.addFile(path, Buffer.from(html, "utf8"), { contentType: "text/html; charset=utf-8" }).url;
  }

  /** Adds a fault for `path`; faults apply in the order added, each until its `times` are used up. */
  fault(path: string, fault: Fault): void {
    const p = normalizePath(path);
    const list = this.faults.get(p) ?? [];
    list.push({ fault, remaining: fault.times });
    this.faults.set(p, list);
  }

  /** Removes pending faults for `path` (responses already stalled stay stalled: see `releaseStalls`). */
  clearFaults(path: string): void {
    this.faults.delete(normalizePath(path));
  }

  /** Resolves once a HEAD of `path` is being held by a holdHead fault. */
  waitForHeldHead(path: string, timeoutMs = 15_000): Promise<string> {
    const p = normalizePath(path);
    return this.heldWaiters.wait(this.heldHeads, (held) => held === p, timeoutMs, () => `FileServer.waitForHeldHead(${p}): none within ${timeoutMs} ms`);
  }

  /** Lets stalled responses (for `path`, or all) continue sending the rest of their body, and held HEADs answer. */
  releaseStalls(path?: string): void {
    const paths = path === undefined ? [...this.stallWakers.keys()] : [normalizePath(path)];
    for (const p of paths) for (const wake of [...(this.stallWakers.get(p) ?? [])]) wake();
  }

  /** Limits the body rate for `path`, including responses already in flight; null removes the limit. */
  throttle(path: string, bytesPerSecond: number | null): void {
    const p = normalizePath(path);
    if (bytesPerSecond === null) this.throttles.delete(p);
    else if (bytesPerSecond > 0) this.throttles.set(p, bytesPerSecond);
    else throw new Error("bytesPerSecond must be positive (use a stall fault to stop a body)");
    for (const wake of [...(this.throttleWakers.get(p) ?? [])]) wake();
  }

  /**
   * Limits each response for `path` by what it asked: `rateOf` gets the request (its `range` is
   * undefined for a whole-file GET) and gives its bytes a second, or null for no limit. A server
   * uneven across connections, the way a throttled CDN node or a per-connection shaper is. Takes
   * the place of `throttle(path)` for that path, in flight too; null removes it.
   */
  throttleRequests(path: string, rateOf: ((r: ServedRequest) => number | null) | null): void {
    const p = normalizePath(path);
    if (rateOf === null) this.requestThrottles.delete(p);
    else this.requestThrottles.set(p, rateOf);
    for (const wake of [...(this.throttleWakers.get(p) ?? [])]) wake();
  }

  /**
   * Resolves with the first request matching `pred`: one already served (with seq >= `since`,
   * default all of them) or a future one. A request is visible once its status is decided.
   */
  waitForRequest(
    pred: (r: ServedRequest) => boolean,
    opts: { timeoutMs?: number; since?: number } = {},
  ): Promise<ServedRequest> {
    const since = opts.since ?? 0;
    const timeoutMs = opts.timeoutMs ?? 15_000;
    return this.requestWaiters.wait(
      this.requests.filter((r) => r.seq >= since),
      (r) => r.seq >= since && pred(r),
      timeoutMs,
      () => `FileServer.waitForRequest: no matching request within ${timeoutMs} ms.\n${this.describeRecent()}`,
    );
  }

  /** Resolves once a single response for `path` has sent at least `n` body bytes. */
  async waitForBytes(path: string, n: number, opts: { timeoutMs?: number } = {}): Promise<void> {
    const p = normalizePath(path);
    const timeoutMs = opts.timeoutMs ?? 15_000;
    await this.progressWaiters.wait(
      this.requests,
      (r) => r.path === p && r.bytesSent >= n,
      timeoutMs,
      () => `FileServer.waitForBytes(${p}, ${n}): not reached within ${timeoutMs} ms.\n${this.describeRecent()}`,
    );
  }

  /** Resolves once some response matches `pred`, checked again each time one sends bytes or changes state. */
  async waitForProgress(pred: (r: ServedRequest) => boolean, opts: { timeoutMs?: number } = {}): Promise<ServedRequest> {
    const timeoutMs = opts.timeoutMs ?? 15_000;
    return this.progressWaiters.wait(this.requests, pred, timeoutMs, () => `FileServer.waitForProgress: no match within ${timeoutMs} ms.\n${this.describeRecent()}`);
  }

  /** Responses whose body is being sent right now (stalled ones included). */
  activeTransfers(): number {
    return this.active;
  }

  /** The next `seq` to be assigned: pass it as `since` to wait only for requests after this point. */
  get nextSeq(): number {
    return this.requests.length + 1;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const set of [...this.stallWakers.values(), ...this.throttleWakers.values()]) for (const wake of [...set]) wake();
    for (const socket of this.sockets) socket.destroy();
    this.requestWaiters.rejectAll("FileServer stopped");
    this.heldWaiters.rejectAll("FileServer stopped");
    this.progressWaiters.rejectAll("FileServer stopped");
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // --- request handling -------------------------------------------------------------------

  private urlFor(path: string): string {
    return this.baseUrl + path.split("/").map(encodeURIComponent).join("/");
  }

  private record(req: IncomingMessage, path: string, status: number): ServedRequest {
    const rec: ServedRequest = {
      seq: this.requests.length + 1,
      method: req.method ?? "GET",
      path,
      url: req.url ?? "/",
      range: header(req, "range"),
      ifRange: header(req, "if-range"),
      status,
      bytesSent: 0,
      at: Date.now(),
      state: "sending",
    };
    this.requests.push(rec);
    return rec;
  }

  /** Publishes a record to waiters once it is final enough to be looked at. */
  private publish(rec: ServedRequest): void {
    this.requestWaiters.notify(rec);
    this.progressWaiters.notify(rec);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", this.baseUrl).pathname);
    } catch {
      this.simple(req, res, "(malformed)", 400);
      return;
    }
    const method = req.method ?? "GET";
    // Drain any request body so keep-alive stays usable; a file server ignores it.
    req.resume();

    if (method !== "GET" && method !== "HEAD") {
      this.simple(req, res, path, 405, { Allow: "GET, HEAD" });
      return;
    }
    if (method === "HEAD" && this.takeFault(path, (f): f is Extract<Fault, { kind: "holdHead" }> => f.kind === "holdHead")) {
      this.heldHeads.push(path);
      this.heldWaiters.notify(path);
      void this.waitFor(this.stallWakers, path, res).then(() => {
        if (!res.destroyed && !this.stopped) this.handleFile(req, res, path, method);
      });
      return;
    }
    if (method === "GET") {
      const status = this.takeFault(path, (f): f is Extract<Fault, { kind: "status" }> => f.kind === "status");
      if (status) {
        this.simple(req, res, path, status.status);
        return;
      }
    }

    this.handleFile(req, res, path, method);
  }

  private handleFile(req: IncomingMessage, res: ServerResponse, path: string, method: string): void {
    const entry = this.entries.get(path);
    if (!entry) {
      this.simple(req, res, path, 404);
      return;
    }
    if (entry.kind === "redirect") {
      const location = entry.to;
      this.simple(req, res, path, entry.status, { Location: location });
      return;
    }
    if (method === "HEAD" && !entry.allowHead) {
      this.simple(req, res, path, 405, { Allow: "GET" });
      return;
    }
    this.serveFile(req, res, path, entry);
  }

  /** A short status-only response (errors, redirects). */
  private simple(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    status: number,
    headers: Record<string, string> = {},
  ): void {
    const rec = this.record(req, path, status);
    const body = Buffer.from(`${status} ${STATUS_CODES[status] ?? ""}\n`);
    res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": body.length, ...headers });
    this.trackEnd(res, rec);
    this.publish(rec);
    res.end(req.method === "HEAD" ? undefined : body);
  }

  private serveFile(req: IncomingMessage, res: ServerResponse, path: string, entry: FileEntry): void {
    const size = entry.body.length;
    const headers: Record<string, string | number> = { "Content-Type": entry.contentType };
    if (entry.acceptRanges) headers["Accept-Ranges"] = "bytes";
    if (entry.etag) headers["ETag"] = entry.etag;
    if (entry.lastModified) headers["Last-Modified"] = entry.lastModified;
    if (entry.contentDisposition) headers["Content-Disposition"] = entry.contentDisposition;

    let status = 200;
    let start = 0;
    let end = size - 1; // inclusive; -1 for an empty body
    const rangeHeader = header(req, "range");
    if (entry.acceptRanges && !entry.ignoreRanges && rangeHeader !== undefined && ifRangeMatches(header(req, "if-range"), entry)) {
      const range = parseRange(rangeHeader, size);
      if (range === "unsatisfiable") {
        const rec = this.record(req, path, 416);
        res.writeHead(416, { ...headers, "Content-Range": `bytes */${size}`, "Content-Length": 0 });
        this.trackEnd(res, rec);
        this.publish(rec);
        res.end();
        return;
      }
      if (range) {
        status = 206;
        [start, end] = range;
        headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
      }
    }
    const length = end - start + 1;
    if (entry.sendLength) headers["Content-Length"] = length;

    const rec = this.record(req, path, status);
    res.writeHead(status, headers);
    this.trackEnd(res, rec);
    if (req.method === "HEAD") {
      this.publish(rec);
      res.end();
      return;
    }
    const fault = this.takeFault(path, (f): f is BodyFault => f.kind === "drop" || f.kind === "stall");
    // Send the headers now, so a fault at byte 0 still looks like a response that started.
    res.flushHeaders();
    this.publish(rec);
    void this.sendBody(res, rec, entry.body, start, end + 1, fault);
  }

  /**
   * At a body fault's point: a drop cuts the connection once what was written has left; a stall
   * holds the body until released. True when the body goes on, false when the response is over.
   */
  private async atFault(fault: BodyFault, res: ServerResponse, rec: ServedRequest): Promise<boolean> {
    if (fault.kind === "drop") {
      await flushed(res);
      rec.state = "dropped";
      res.socket?.destroy();
      return false;
    }
    rec.state = "stalled";
    this.publish(rec);
    await this.waitFor(this.stallWakers, rec.path, res);
    if (res.destroyed || this.stopped) return false;
    rec.state = "sending";
    return true;
  }

  /** Streams body[start, end) in chunks with backpressure, honouring faults and throttling. */
  private async sendBody(
    res: ServerResponse,
    rec: ServedRequest,
    body: Buffer,
    start: number,
    end: number,
    fault: BodyFault | undefined,
  ): Promise<void> {
    this.active++;
    this.maxConcurrentTransfers = Math.max(this.maxConcurrentTransfers, this.active);
    try {
      let pos = start;
      let pendingFault = fault;
      while (pos < end) {
        if (res.destroyed || this.stopped) return;
        const queued = pos - start;
        if (pendingFault && queued >= pendingFault.afterBytes) {
          if (!(await this.atFault(pendingFault, res, rec))) return;
          pendingFault = undefined;
          continue;
        }
        const bps = this.rateOf(rec);
        let size = bps === undefined ? CHUNK : Math.max(1, Math.min(THROTTLED_CHUNK, Math.floor(bps / 8)));
        if (pendingFault) size = Math.min(size, pendingFault.afterBytes - queued);
        size = Math.min(size, end - pos);
        const chunk = body.subarray(pos, pos + size); // a view, never a copy
        pos += size;
        const ok = res.write(chunk, (err) => {
          if (err) return;
          rec.bytesSent += chunk.length;
          this.progressWaiters.notify(rec);
        });
        if (!ok) await drained(res);
        if (bps !== undefined) await this.waitFor(this.throttleWakers, rec.path, res, (size / bps) * 1000);
      }
      // The fault point is the very end of the body: still cut/hold before the response ends.
      if (pendingFault && end - start >= pendingFault.afterBytes && !(await this.atFault(pendingFault, res, rec))) return;
      // A response destroyed just before may never call back: the close settles it too.
      await new Promise<void>((resolve) => {
        res.once("close", resolve);
        res.end(resolve);
      });
    } finally {
      this.active--;
    }
  }

  /**
   * Waits until woken through `wakers` for `path`, the response closes, the server stops, or
   * (if given) `ms` pass. Used for throttling (woken on throttle change) and stalls (on release).
   */
  private waitFor(wakers: Map<string, Set<() => void>>, path: string, res: ServerResponse, ms?: number): Promise<void> {
    if (res.destroyed || this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const set = wakers.get(path) ?? new Set<() => void>();
      wakers.set(path, set);
      const done = (): void => {
        if (timer) clearTimeout(timer);
        set.delete(done);
        res.off("close", done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      set.add(done);
      res.once("close", done);
    });
  }

  /** Marks the record complete/aborted when the response ends, whichever way. */
  private trackEnd(res: ServerResponse, rec: ServedRequest): void {
    res.once("close", () => {
      if (rec.state !== "dropped") rec.state = res.writableFinished ? "complete" : "aborted";
      this.publish(rec);
    });
  }

  /** The rate a response is held to: its own (throttleRequests), else its path's (throttle), else none. */
  private rateOf(rec: ServedRequest): number | undefined {
    const rateOf = this.requestThrottles.get(rec.path);
    if (!rateOf) return this.throttles.get(rec.path);
    const bps = rateOf(rec);
    if (bps !== null && !(bps > 0)) throw new Error("a request's rate must be positive or null");
    return bps ?? undefined;
  }

  /** Consumes one application of the first matching fault for `path`. */
  private takeFault<F extends Fault>(path: string, match: (f: Fault) => f is F): F | undefined {
    const list = this.faults.get(path);
    if (!list) return undefined;
    for (const state of list) {
      if (!match(state.fault) || state.remaining === 0) continue;
      if (state.remaining !== undefined) state.remaining--;
      return state.fault;
    }
    return undefined;
  }

  private describeRecent(): string {
    const recent = this.requests.slice(-15);
    if (recent.length === 0) return "No requests were served.";
    return (
      "Recent requests:\n" +
      recent
        .map(
          (r) =>
            `  #${r.seq} ${r.method} ${r.path}${r.range ? ` [${r.range}]` : ""} -> ${r.status}, ${r.bytesSent} bytes, ${r.state}`,
        )
        .join("\n")
    );
  }
}

// --- helpers ------------------------------------------------------------------------------

function normalizePath(path: string): string {
  return path.startsWith("/") ? path : `/${path}`;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

function httpDate(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toUTCString();
}

/**
 * If-Range (RFC 9110 13.1.5): the range applies only if the validator still matches. An
 * entity-tag must match the current strong ETag exactly (weak tags never match); anything
 * else is compared to Last-Modified as an exact date string.
 */
function ifRangeMatches(ifRange: string | undefined, entry: FileEntry): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith("W/")) return entry.etag !== undefined && !v.startsWith("W/") && v === entry.etag;
  return entry.lastModified !== undefined && v === entry.lastModified;
}

/**
 * Parses a single `bytes=` range. Returns the inclusive [start, end], "unsatisfiable" (416), or
 * undefined when the header should be ignored (bad syntax, other units, several ranges: a
 * server may always answer those with the full 200).
 */
function parseRange(value: string, size: number): [number, number] | "unsatisfiable" | undefined {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(value);
  if (!m) return undefined;
  const [, a = "", b = ""] = m;
  if (a === "" && b === "") return undefined;
  if (a === "") {
    const n = Number(b);
    if (n === 0 || size === 0) return "unsatisfiable";
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(a);
  if (b !== "" && Number(b) < start) return undefined; // invalid spec: ignore the header
  if (start >= size) return "unsatisfiable";
  return [start, b === "" ? size - 1 : Math.min(Number(b), size - 1)];
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}

/** Resolves once everything written so far has reached the kernel (writes complete in order). */
function flushed(res: ServerResponse): Promise<void> {
  const socket = res.socket;
  if (!socket || socket.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    socket.write(Buffer.alloc(0), () => resolve());
  });
}
