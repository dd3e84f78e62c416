import { describe, expect, it } from "vitest";
import { stageLines } from "../../src/bot/views/stage-view.ts";
import type { TransferStage } from "../../src/sources/source.ts";

/** Every stage the engine reports, as the chat shows it: the words are made here, not in the engine. */
const EVERY_STAGE: Array<[TransferStage, { note?: string; details?: string[] }]> = [
  [{ kind: "reading-page" }, { note: "reading the page" }],
  [{ kind: "queueing-found", done: 3, total: 7 }, { note: "queueing the files found on the page: 3 of 7" }],
  [{ kind: "reading-playlist" }, { note: "reading the stream's playlist" }],
  [{ kind: "segments", done: 0, total: 3 }, { note: "0 of 3 segments" }],
  [{ kind: "joining-segments" }, { note: "joining the stream's segments" }],
  [{ kind: "site-reading-page", limitSeconds: 30 }, { note: "waiting for yt-dlp to read the page (up to 30 s)" }],
  [{ kind: "site-opening-video", limitSeconds: 30 }, { note: "waiting for yt-dlp to open the video (up to 30 s)" }],
  [{ kind: "torrent-metadata", peers: 2 }, { note: "waiting for metadata", details: ["peers: 2"] }],
  [{ kind: "torrent-checking", peers: 1 }, { note: "checking the pieces already on disk", details: ["peers: 1"] }],
  [{ kind: "torrent", peers: 4, downBytesPerSec: 2048, upBytesPerSec: 0 }, { details: ["peers: 4", "↓ 2.0 KB/s ↑ 0 B/s"] }],
  [{ kind: "preparing-upload" }, { note: "preparing the upload" }],
  [
    { kind: "preparing-upload", after: { kind: "torrent", peers: 3, downBytesPerSec: 0, upBytesPerSec: 0 } },
    { note: "preparing the upload", details: ["peers: 3", "↓ 0 B/s ↑ 0 B/s"] },
  ],
  [{ kind: "uploading-files", from: 2, to: 2, of: 5, name: "b.mkv" }, { details: ["2 of 5: b.mkv"] }],
  [{ kind: "uploading-files", from: 1, to: 10, of: 21, name: "disk.img.001" }, { details: ["1-10 of 21: disk.img.001 …"] }],
];

describe("stage lines", () => {
  it.each(EVERY_STAGE.map(([stage, lines]) => [stage.kind, stage, lines] as const))("%s", (_kind, stage, lines) => {
    expect(stageLines(stage)).toEqual(lines);
  });

  it("nothing for a transfer without a stage", () => {
    expect(stageLines(undefined)).toEqual({});
  });
});
