import type { QueueEvent } from "../queue/events.ts";
import { TransferSpeeds } from "./event-view.ts";

/**
 * What `/metrics` counts from the engine's events since the server started: bytes downloaded
 * (each transfer's growth while it downloads) and uploaded (what each delivery sent), failures
 * by code (an attempt that is retried, and an item that failed for good), and the running
 * transfer's speed. A listener of `QueueEvents`, like the chat.
 */
export class WebStats {
  downloadedBytes = 0;
  uploadedBytes = 0;
  readonly failures = new Map<string, { code: string; final: boolean; count: number }>();
  /** The running transfer, while one runs. */
  running: { itemId: number; phase: string; speed: number | null } | undefined;
  private readonly downloaded = new Map<number, number>();
  private readonly speeds: TransferSpeeds;

  constructor(now: () => number = Date.now) {
    this.speeds = new TransferSpeeds(now);
  }

  see(event: QueueEvent): void {
    if (event.type === "recovered") return;
    const id = event.item.id;
    const speed = this.speeds.see(event);
    switch (event.type) {
      case "started":
        // What is on disk already (a resumed download) was counted when it came.
        this.downloaded.set(id, event.transfer.phase === "uploading" ? 0 : event.transfer.bytesDone);
        this.running = { itemId: id, phase: event.transfer.phase, speed };
        return;
      case "progress": {
        const { phase, bytesDone } = event.transfer;
        if (phase === "downloading") {
          const before = this.downloaded.get(id) ?? 0;
          if (bytesDone > before) this.downloadedBytes += bytesDone - before;
          // A download that starts over from 0 (the file changed on the server) counts again.
          this.downloaded.set(id, bytesDone);
        }
        this.running = { itemId: id, phase, speed };
        return;
      }
      case "delivered":
        this.uploadedBytes += event.bytes;
        break;
      case "retrying":
        this.fail(event.error.code, false);
        break;
      case "failed":
        this.fail(event.error.code, true);
        break;
      case "notice":
        return;
    }
    this.downloaded.delete(id);
    if (this.running?.itemId === id) this.running = undefined;
  }

  private fail(code: string, final: boolean): void {
    const key = `${code} ${final}`;
    const entry = this.failures.get(key) ?? { code, final, count: 0 };
    entry.count++;
    this.failures.set(key, entry);
  }
}
