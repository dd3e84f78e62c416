import { promises as fs } from "node:fs";
import path from "node:path";
import { parseTorrent } from "./torrent-meta.ts";
import type { Torrent } from "webtorrent";
import type { Logger } from "../../logger.ts";
import type { TorrentClientHolder } from "./torrent-client.ts";
import { safeStore } from "./torrent-store.ts";

export interface SeedingOptions {
  /** Where seeded files live: <dir>/<info hash>/… (dataDir/seeding). */
  dir: string;
  clients: TorrentClientHolder;
  logger: Logger;
  /** Stop once this many times the delivered bytes went up (default 1). */
  ratio?: number;
  /** Stop after this long whatever the ratio (default 24 h). */
  maxMs?: number;
  /** How often the ratio is looked at (default 10 s). */
  checkEveryMs?: number;
}

export interface SeedRequest {
  infoHash: string;
  /** The .torrent the download used (its trackers already filtered). */
  metainfo: Uint8Array;
  /** The item's directory the files were downloaded into. */
  fromDir: string;
  /** Torrent file indexes and their paths below `fromDir`. */
  files: Array<{ index: number; path: string }>;
  bytes: number;
}

interface Seeded {
  torrent: Torrent;
  timer: NodeJS.Timeout;
}

/**
 * `torrent.seed`: after a download, the delivered files keep seeding until they went up `ratio`
 * times or `maxMs` passed. The worker deletes the item's directory after the upload, so the files
 * are hard-linked (copied where links fail) into their own directory first, and the torrent is
 * added again from there (webtorrent verifies them once). Seeding does not survive a restart:
 * what a previous process left in `dir` is removed at the next seed.
 */
export class TorrentSeeding {
  private readonly active = new Map<string, Seeded>();

  constructor(private readonly options: SeedingOptions) {}

  async start(request: SeedRequest): Promise<void> {
    const { logger } = this.options;
    // Seeded before (its torrent since taken out of the client by a new download of it): its
    // timer must not outlive it, or it would stop the seeding started here.
    await this.stop(request.infoHash);
    await this.removeStale(request.infoHash);
    const target = path.join(this.options.dir, request.infoHash);
    await fs.rm(target, { recursive: true, force: true });
    for (const file of request.files) {
      const from = path.resolve(request.fromDir, file.path);
      const to = path.resolve(target, file.path);
      if (!to.startsWith(target + path.sep)) throw new Error(`seed path escapes ${target}`);
      await fs.mkdir(path.dirname(to), { recursive: true });
      await fs.link(from, to).catch(() => fs.copyFile(from, to));
    }

    const parsed = await parseTorrent(request.metainfo);
    const client = await this.options.clients.get();
    const torrent = client.add(parsed, { path: target, store: safeStore(target), deselect: true });
    const wanted = new Set(request.files.map((f) => f.index));
    torrent.once("metadata", () => {
      for (const [i, file] of torrent.files.entries()) if (wanted.has(i)) file.select();
    });
    torrent.on("error", (error: unknown) => {
      logger.warn({ infoHash: request.infoHash, err: error instanceof Error ? error.message : String(error) }, "seeding failed");
      void this.stop(request.infoHash);
    });
    torrent.on("warning", () => {});
    const started = Date.now();
    const ratio = this.options.ratio ?? 1;
    const maxMs = this.options.maxMs ?? 24 * 3_600_000;
    const timer = setInterval(() => {
      if (torrent.destroyed || torrent.uploaded >= ratio * request.bytes || Date.now() - started >= maxMs) {
        logger.info({ infoHash: request.infoHash, uploaded: torrent.uploaded }, "seeding finished");
        void this.stop(request.infoHash);
      }
    }, this.options.checkEveryMs ?? 10_000);
    timer.unref();
    this.active.set(request.infoHash, { torrent, timer });
    logger.info({ infoHash: request.infoHash, files: request.files.length }, "seeding");
  }

  /** Stops seeding one torrent and deletes its files. */
  async stop(infoHash: string): Promise<void> {
    const seeded = this.active.get(infoHash);
    this.active.delete(infoHash);
    if (seeded) {
      clearInterval(seeded.timer);
      if (!seeded.torrent.destroyed) await new Promise<void>((resolve) => seeded.torrent.destroy({ destroyStore: false }, () => resolve()));
    }
    await fs.rm(path.join(this.options.dir, infoHash), { recursive: true, force: true });
  }

  /** Whether a torrent is being seeded now. */
  isSeeding(infoHash: string): boolean {
    const seeded = this.active.get(infoHash);
    return seeded !== undefined && !seeded.torrent.destroyed;
  }

  /** Forgets timers (the client is destroyed by its holder); files stay until the next start. */
  close(): void {
    for (const seeded of this.active.values()) clearInterval(seeded.timer);
    this.active.clear();
  }

  private async removeStale(except: string): Promise<void> {
    let names: string[] = [];
    try {
      names = await fs.readdir(this.options.dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (name !== except && !this.isSeeding(name)) await fs.rm(path.join(this.options.dir, name), { recursive: true, force: true });
    }
  }
}
