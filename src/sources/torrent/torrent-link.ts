import type { Got } from "got";
import type { Db } from "../../db/database.ts";
import { saveMetainfo } from "../../db/torrent-repository.ts";
import { stopReason } from "../../errors.ts";
import type { SourceContext, SourceResult } from "../source.ts";
import { limitTrackers } from "./torrent-client.ts";
import { buildMagnet, fileCount, safeTitle, tooManyFilesError } from "./torrent-files.ts";
import { fetchTorrentFile, parseTorrentFile } from "./torrent-meta.ts";

export interface TorrentLinkDeps {
  db: Db;
  http: Got;
  maxFiles: number;
  maxTrackers: number;
  stallTimeoutMs: number;
}

/**
 * An item whose URL is http(s) is a .torrent behind a link: it is fetched (guarded, capped),
 * stored, and the item handed back to the torrent source as the torrent's magnet; a torrent
 * already open in the chat is not queued twice.
 */
export async function torrentFromLink(deps: TorrentLinkDeps, ctx: SourceContext, now: number): Promise<SourceResult> {
  const { item, signal } = ctx;
  let bytes: Buffer;
  try {
    bytes = await fetchTorrentFile(deps.http, item.url, signal, deps.stallTimeoutMs);
  } catch (error) {
    if (signal.aborted) throw stopReason(signal);
    throw error;
  }
  const info = await parseTorrentFile(bytes);
  const count = fileCount(info.entries);
  if (count > deps.maxFiles) {
    await ctx.checkpoint({ title: safeTitle(info.name) });
    throw tooManyFilesError(count, deps.maxFiles);
  }
  await saveMetainfo(deps.db, info.infoHash, bytes, now);
  const magnet = buildMagnet({
    infoHash: info.infoHash,
    name: info.name,
    // The item's URL: no room for thousands (the handler takes the first maxTrackers anyway).
    trackers: limitTrackers(info.parsed.announce ?? [], deps.maxTrackers).kept,
    webSeeds: [],
    peers: [],
  });
  const open = await ctx.findOpen(magnet);
  if (open && open.item.id !== item.id) {
    return { kind: "done", summary: { kind: "already-queued", itemId: open.item.id, media: "torrent", position: open.position, status: open.item.status } };
  }
  await ctx.checkpoint({ title: safeTitle(info.name) });
  return { kind: "reroute", sourceKind: "torrent", url: magnet };
}
