import { promises as fs } from "node:fs";
import path from "node:path";
import { diskFullError } from "../errors.ts";
import type { Logger } from "../logger.ts";

/** Free bytes on the disk that holds `dir`. */
export async function statfsFreeBytes(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  return s.bavail * s.bsize;
}

/** Space downloads leave free, so the database can always write. */
export const DISK_RESERVE_BYTES = 16 * 1024 * 1024;
/** The ballast: a file kept in `dataDir` and deleted when the disk is full, to give SQLite room. */
export const BALLAST_BYTES = 4 * 1024 * 1024;
const BALLAST_NAME = ".disk-ballast";

export interface DataDiskOptions {
  dir: string;
  logger: Logger;
  freeBytes?: (dir: string) => Promise<number>;
}

/**
 * The data directory's disk. Downloads stop before it is full (`assertRoom`, checked before and
 * while streaming) and keep a reserve for the database; if something else fills it anyway, a
 * ballast file kept there is given up so the bot can still open its database, record outcomes
 * and answer (`releaseBallast`), and laid down again once there is room (`restoreBallast`).
 */
export class DataDisk {
  readonly dir: string;
  private readonly freeBytes: (dir: string) => Promise<number>;
  private readonly ballast: string;
  /** Known to be in place (so checking again costs nothing). */
  private ballastInPlace = false;

  constructor(private readonly options: DataDiskOptions) {
    this.dir = options.dir;
    this.freeBytes = options.freeBytes ?? statfsFreeBytes;
    this.ballast = path.join(options.dir, BALLAST_NAME);
  }

  free(): Promise<number> {
    return this.freeBytes(this.dir);
  }

  /** Whether the disk is past the reserve (nothing can be downloaded). */
  async isFull(): Promise<boolean> {
    return (await this.free().catch(() => Number.POSITIVE_INFINITY)) < DISK_RESERVE_BYTES;
  }

  /** Throws DISK_FULL unless `bytes` more fit while keeping the reserve (0: just the reserve). */
  async assertRoom(bytes = 0): Promise<void> {
    const needed = bytes + DISK_RESERVE_BYTES;
    const free = await this.free();
    if (free >= needed) return;
    throw diskFullError(
      undefined,
      `need ${needed} bytes, ${free} free`,
      bytes > 0 ? { kind: "diskNoRoom", needed, free } : { kind: "diskReserve", free, reserve: DISK_RESERVE_BYTES },
    );
  }

  /** Gives the ballast's space back to the disk; true when there was one. */
  async releaseBallast(): Promise<boolean> {
    this.ballastInPlace = false;
    try {
      await fs.rm(this.ballast);
      this.options.logger.warn({ dir: this.dir }, "the data disk is full: released the space kept for the database");
      return true;
    } catch {
      return false;
    }
  }

  /** Lays the ballast down when it is missing and there is room for it beyond the reserve. */
  async restoreBallast(): Promise<void> {
    if (this.ballastInPlace) return;
    try {
      const stat = await fs.stat(this.ballast).catch(() => undefined);
      if (stat && stat.size >= BALLAST_BYTES) {
        this.ballastInPlace = true;
        return;
      }
      if ((await this.free()) < BALLAST_BYTES + DISK_RESERVE_BYTES) return;
      // Real bytes, not a sparse file: the point is to hold the space.
      const handle = await fs.open(this.ballast, "w");
      try {
        const chunk = Buffer.alloc(256 * 1024);
        for (let written = 0; written < BALLAST_BYTES; written += chunk.length) await handle.write(chunk);
      } finally {
        await handle.close();
      }
      this.ballastInPlace = true;
    } catch (error) {
      await fs.rm(this.ballast, { force: true }).catch(() => {});
      this.options.logger.debug({ err: error instanceof Error ? error.message : String(error) }, "could not lay down the disk ballast");
    }
  }
}
