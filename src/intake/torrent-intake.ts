import { findOpenTorrent, queuePosition } from "../db/item-repository.ts";
import { saveMetainfo } from "../db/torrent-repository.ts";
import { toAppError } from "../errors.ts";
import type { Wants } from "../items/item.ts";
import { filenameFromUrl } from "../sources/http-probe.ts";
import { allTooLargeError, buildMagnet, fileCount, magnetTitle, selectFiles, tooManyFilesError } from "../sources/torrent/torrent-files.ts";
import { fetchTorrentFile, parseMagnet, parseTorrentFile } from "../sources/torrent/torrent-meta.ts";
import { type IntakeDeps, type IntakeOutcome, enqueueUrl } from "./intake.ts";

/** What a person gave us as a torrent. */
export type TorrentInput =
  | { kind: "magnet"; uri: string }
  | { kind: "url"; url: string }
  | { kind: "file"; bytes: Uint8Array };

export interface TorrentRequest {
  chatId: number;
  userId: number | null;
  requestMessageId?: number | null;
  /** The stored request this comes from: its item is stored once only. */
  requestId?: number;
  /** What was asked of its media (`/audio`: each file's audio). */
  wants?: Wants;
}

/**
 * Queues a torrent. Every torrent item's URL is its canonical magnet (the hex info hash inside),
 * so the same torrent queued twice in a chat is one item. A .torrent (sent, or fetched from a
 * URL now) is stored by info hash before the item exists, so the handler never waits for
 * metadata it was given; its sizes are checked at once (all files over the limit: refused).
 * A .torrent URL that cannot be fetched right now for a passing reason is queued as the URL and
 * fetched by the handler, with the queue's retries.
 */
export async function enqueueTorrent(deps: IntakeDeps, request: TorrentRequest, input: TorrentInput): Promise<IntakeOutcome> {
  const now = deps.now ?? Date.now;
  // Two magnets of one torrent may differ in name or trackers; the info hash decides (and what
  // was asked of it: its files, or only their audio).
  const openCopy = async (infoHash: string): Promise<IntakeOutcome | undefined> => {
    const existing = await findOpenTorrent(deps.db, request.chatId, infoHash, request.wants ?? {});
    if (!existing) return undefined;
    return { status: "duplicate", item: existing, position: existing.status === "queued" ? await queuePosition(deps.db, existing) : null };
  };
  try {
    if (input.kind === "magnet") {
      const magnet = await parseMagnet(input.uri);
      const duplicate = await openCopy(magnet.infoHash);
      if (duplicate) return duplicate;
      return await enqueueUrl(deps, {
        ...request,
        url: buildMagnet(magnet),
        sourceKind: "torrent",
        skipProbe: true,
        title: magnetTitle(magnet),
      });
    }
    let bytes: Uint8Array;
    if (input.kind === "url") {
      try {
        bytes = await fetchTorrentFile(deps.http, input.url);
      } catch (thrown) {
        const error = toAppError(thrown);
        if (!error.retryable) return { status: "refused", error };
        deps.logger.info({ url: input.url, code: error.code }, ".torrent fetch failed; queueing the URL anyway");
        return await enqueueUrl(deps, {
          ...request,
          url: input.url,
          sourceKind: "torrent",
          skipProbe: true,
          title: filenameFromUrl(input.url),
        });
      }
    } else {
      bytes = input.bytes;
    }
    const info = await parseTorrentFile(bytes);
    const duplicate = await openCopy(info.infoHash);
    if (duplicate) return duplicate;
    // Known now, so said now: not "queued" first and failed when its turn comes.
    const count = fileCount(info.entries);
    if (deps.torrentMaxFiles !== undefined && count > deps.torrentMaxFiles) {
      return { status: "refused", error: tooManyFilesError(count, deps.torrentMaxFiles) };
    }
    const selection = selectFiles(info.entries, deps.maxFileSizeBytes);
    if (selection.wanted.length === 0 && selection.tooLarge.length > 0) {
      return { status: "refused", error: allTooLargeError(selection, deps.maxFileSizeBytes) };
    }
    await saveMetainfo(deps.db, info.infoHash, bytes, now());
    return await enqueueUrl(deps, {
      ...request,
      url: buildMagnet({ infoHash: info.infoHash, name: info.name, trackers: info.parsed.announce ?? [], webSeeds: [], peers: [] }),
      sourceKind: "torrent",
      skipProbe: true,
      title: info.name,
      sizeBytes: selection.wantedBytes,
      sizeIsTotal: true,
    });
  } catch (thrown) {
    const error = toAppError(thrown);
    if (error.code === "INTERNAL") throw thrown;
    return { status: "refused", error };
  }
}
