import { closeSync, constants, mkdirSync, openSync, writeSync } from "node:fs";
import path from "node:path";
import FSChunkStore, { type FsChunkStoreOptions } from "fs-chunk-store";
import type { Torrent } from "webtorrent";
import { settlesWithin } from "../../util/async.ts";
import { torrentDiskPaths } from "./torrent-files.ts";

/** One file's share of a piece: bytes `from`..`to` of the piece go to `at` in file `file`. */
export interface PieceTarget {
  file: number;
  from: number;
  to: number;
  at: number;
}

/**
 * Where the bytes of piece `index` (`bytes` long) go: every file it overlaps, in order. A piece of
 * a multi-file torrent may span several files (and padding files). The files lie end to end in
 * torrent order, so the first one the piece touches is found by halving: a pack of thousands of
 * files is not walked whole for every piece. Pure.
 */
export function pieceTargets(files: ReadonlyArray<{ offset: number; length: number }>, pieceLength: number, index: number, bytes: number): PieceTarget[] {
  const start = index * pieceLength;
  const end = start + bytes;
  let first = 0;
  for (let past = files.length; first < past; ) {
    const mid = (first + past) >>> 1;
    if (files[mid]!.offset + files[mid]!.length <= start) first = mid + 1;
    else past = mid;
  }
  const targets: PieceTarget[] = [];
  for (let file = first; file < files.length && files[file]!.offset < end; file++) {
    const f = files[file]!;
    const from = Math.max(start, f.offset);
    const to = Math.min(end, f.offset + f.length);
    if (from < to) targets.push({ file, from: from - start, to: to - start, at: from - f.offset });
  }
  return targets;
}

function writeFully(fd: number, bytes: Uint8Array, at: number): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
}

/**
 * An fs-chunk-store whose files live at `torrentDiskPaths(root, …)`: names from the metadata are
 * cleaned segment by segment before anything touches the disk, and the store checks that the
 * paths it opens are exactly those. Passed to webtorrent as a torrent's `store`.
 *
 * Verified pieces are written before `put` returns. fs-chunk-store writes through the thread
 * pool, where a 64 kB piece waited 5-40 ms (p50-p90, busy 2-core VM): long enough for V8 to
 * promote its buffer, and a promoted buffer is freed only by a full collection, which on Node 24
 * waits until heap and buffers reach 128 MB together. A write into the page cache takes about
 * 20 µs here (p99 0.2 ms, 0.13 s of the event loop per 200 MB), and a disk slower than the
 * peers now slows the download instead of piling pieces up in memory. Reads stay asynchronous.
 */
export function safeStore(root: string): typeof FSChunkStore {
  return class SafeFsChunkStore extends FSChunkStore {
    /** Our write descriptors, by file index, opened on a file's first piece. */
    private readonly fds = new Map<number, number>();

    constructor(chunkLength: number, opts: FsChunkStoreOptions = {}) {
      const files = opts.files ?? [];
      const disk = torrentDiskPaths(root, files.map((f) => f.path));
      super(chunkLength, {
        ...opts,
        path: root,
        addUID: false,
        files: files.map((f, i) => ({ path: path.relative(root, disk[i]!), length: f.length, offset: f.offset })),
      });
      this.files.forEach((f, i) => {
        if (f.path !== disk[i]) throw new Error(`torrent store path mismatch: ${f.path}`);
      });
    }

    override put(index: number, buf: Uint8Array, cb: (err?: Error | null) => void = () => {}): void {
      const done = (error: Error | null) => queueMicrotask(() => cb(error));
      if (this.closed) return done(new Error("Storage is closed"));
      const last = Math.ceil(this.length / this.chunkLength) - 1;
      const expected = index === last ? this.length - last * this.chunkLength : this.chunkLength;
      if (!Number.isInteger(index) || index < 0 || index > last || buf.length !== expected) {
        return done(new Error(`piece ${index}: expected ${expected} bytes, got ${buf.length}`));
      }
      try {
        for (const t of pieceTargets(this.files, this.chunkLength, index, buf.length)) writeFully(this.fd(t.file), buf.subarray(t.from, t.to), t.at);
      } catch (error) {
        return done(error instanceof Error ? error : new Error(String(error)));
      }
      done(null);
    }

    override close(cb?: (err?: Error | null) => void): void {
      for (const fd of this.fds.values()) {
        try {
          closeSync(fd);
        } catch {
          // Already gone with the process's descriptors: nothing to release.
        }
      }
      this.fds.clear();
      super.close(cb);
    }

    private fd(file: number): number {
      let fd = this.fds.get(file);
      if (fd === undefined) {
        const target = this.files[file]!.path;
        mkdirSync(path.dirname(target), { recursive: true });
        fd = openSync(target, constants.O_RDWR | constants.O_CREAT);
        this.fds.set(file, fd);
      }
      return fd;
    }
  };
}

/** Takes a torrent out of its client, keeping its files; resolves once they are closed (or after 2 s). */
export function destroyTorrent(torrent: Torrent): Promise<void> {
  if (torrent.destroyed) return Promise.resolve();
  const closed = new Promise<void>((resolve) => torrent.destroy({ destroyStore: false }, () => resolve()));
  return settlesWithin(closed, 2000).then((inTime) => (inTime ? closed : undefined));
}
