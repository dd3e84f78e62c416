import { type WriteStream, createWriteStream } from "node:fs";
import { buffersPassed } from "../util/buffer-release.ts";

/** What a sink may hold before write() waits for the disk. */
const SINK_BUFFER_BYTES = 1024 * 1024;

/**
 * Writes a download's chunks to a file from a position on. What arrives while a write is on its
 * way goes out with the next one in one writev, so a fast connection is not held to one disk
 * round trip per 64 kB chunk. `written` counts only bytes the disk took: what a resume may trust.
 */
export class FileSink {
  private readonly stream: WriteStream;
  private failure: Error | undefined;

  /** `start`: where the first byte goes; "w" truncates the file, "r+" writes into it in place, "a" appends. */
  constructor(file: string, opts: { flags: "w" | "r+" | "a"; start?: number }) {
    this.stream = createWriteStream(file, {
      flags: opts.flags,
      ...(opts.flags === "a" ? {} : { start: opts.start ?? 0 }),
      highWaterMark: SINK_BUFFER_BYTES,
    });
    this.stream.on("error", (error) => {
      this.failure ??= error;
    });
  }

  /** Bytes on disk so far. */
  get written(): number {
    return this.stream.bytesWritten;
  }

  /** Queues a chunk; waits only when the sink is full. A disk error comes out here or from close(). */
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    buffersPassed(chunk.length);
    if (this.stream.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.stream.off("drain", done);
        this.stream.off("close", done);
        resolve();
      };
      this.stream.on("drain", done);
      this.stream.on("close", done);
    });
    if (this.failure) throw this.failure;
  }

  /** Writes out what is queued and closes the file; throws the first disk error, if any. */
  async close(): Promise<void> {
    if (!this.stream.destroyed) {
      await new Promise<void>((resolve) => {
        this.stream.once("close", resolve);
        this.stream.end();
      });
    }
    if (this.failure) throw this.failure;
  }
}
