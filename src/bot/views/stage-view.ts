import type { TransferStage } from "../../sources/source.ts";
import { formatBytes } from "../../text/format.ts";

/**
 * The line (`note`, shown instead of the bar) and extra lines (`details`) of a transfer's stage in
 * its progress message. Pure.
 */
export function stageLines(stage: TransferStage | undefined): { note?: string; details?: string[] } {
  if (!stage) return {};
  const peers = (n: number) => `peers: ${n}`;
  switch (stage.kind) {
    case "reading-page":
      return { note: "reading the page" };
    case "queueing-found":
      return { note: `queueing the files found on the page: ${stage.done} of ${stage.total}` };
    case "reading-playlist":
      return { note: "reading the stream's playlist" };
    case "segments":
      return { note: `${stage.done} of ${stage.total} segments` };
    case "joining-segments":
      return { note: "joining the stream's segments" };
    case "site-reading-page":
      return { note: `waiting for yt-dlp to read the page (up to ${stage.limitSeconds} s)` };
    case "site-opening-video":
      return { note: `waiting for yt-dlp to open the video (up to ${stage.limitSeconds} s)` };
    case "torrent-metadata":
      return { note: "waiting for metadata", details: [peers(stage.peers)] };
    case "torrent-checking":
      return { note: "checking the pieces already on disk", details: [peers(stage.peers)] };
    case "torrent":
      return { details: [peers(stage.peers), `↓ ${formatBytes(stage.downBytesPerSec)}/s ↑ ${formatBytes(stage.upBytesPerSec)}/s`] };
    case "preparing-upload": {
      const details = stageLines(stage.after).details;
      return { note: "preparing the upload", ...(details ? { details } : {}) };
    }
    case "parts-sent":
      return { details: [`parts sent: ${stage.sent} of ${stage.of}`] };
    case "uploading-files":
      return { details: [stage.to > stage.from ? `${stage.from}-${stage.to} of ${stage.of}: ${stage.name} …` : `${stage.from} of ${stage.of}: ${stage.name}`] };
  }
}
