import path from "node:path";
import FSChunkStore, { type FsChunkStoreOptions } from "fs-chunk-store";
import type { Torrent } from "webtorrent";
import { settlesWithin } from "../../util/async.ts";
import { torrentDiskPaths } from "./torrent-files.ts";

/**
 * An fs-chunk-store whose files live at `torrentDiskPaths(root, …)`: names from the metadata are
 * cleaned segment by segment before anything touches the disk, and the store checks that the
 * paths it opens are exactly those. Passed to webtorrent as a torrent's `store`.
 */
export function safeStore(root: string): typeof FSChunkStore {
  return class SafeFsChunkStore extends FSChunkStore {
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
  };
}

/** Takes a torrent out of its client, keeping its files; resolves once they are closed (or after 2 s). */
export function destroyTorrent(torrent: Torrent): Promise<void> {
  if (torrent.destroyed) return Promise.resolve();
  const closed = new Promise<void>((resolve) => torrent.destroy({ destroyStore: false }, () => resolve()));
  return settlesWithin(closed, 2000).then((inTime) => (inTime ? closed : undefined));
}
