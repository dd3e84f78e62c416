import path from "node:path";
import type { Got } from "got";
import type { ParsedTorrent } from "parse-torrent";
import type { Torrent } from "webtorrent";
import type { Db } from "../../db/database.ts";
import { claimNotice, findMetainfo, pruneMetainfo, saveMetainfo } from "../../db/torrent-repository.ts";
import { AppError, DownloadError, diskFullError, stopReason, isDiskFull } from "../../errors.ts";
import type { AddressPolicy, Resolver } from "../../net/address-guard.ts";
import type { ChoiceOffer } from "../../items/choice.ts";
import type { DeliverableFile, Source, SourceContext, SourceResult } from "../source.ts";
import { type TorrentClientHolder, filterReachableUrls, limitRequests, limitTrackers } from "./torrent-client.ts";
import type { TorrentSeeding } from "./torrent-seeding.ts";
import { destroyTorrent, safeStore } from "./torrent-store.ts";
import { torrentFromLink } from "./torrent-link.ts";
import {
  type FileSelection,
  allTooLargeError,
  applyChoice,
  buildMagnet,
  deadTorrentError,
  emptyTorrentError,
  fileCount,
  fileOffer,
  safeTitle,
  selectFiles,
  skippedFiles,
  torrentCaption,
  torrentClosedError,
  torrentDiskPaths,
  torrentStalledError,
  tooManyFilesError,
} from "./torrent-files.ts";
import { entriesOf, parseMagnet, parseTorrent, parseTorrentFile } from "./torrent-meta.ts";

export interface TorrentSourceDeps {
  db: Db;
  clients: TorrentClientHolder;
  /** The guarded HTTP client, for .torrent files behind a URL. */
  http: Got;
  /** Which addresses trackers and web seeds may have (the private-network guard's policy). */
  policy: AddressPolicy;
  resolve?: Resolver;
  /** No metadata within this time: a dead torrent (retryable). */
  metadataTimeoutMs: number;
  /** No new verified bytes for this long once downloading: a stalled torrent (retryable). */
  stallTimeoutMs: number;
  /** `torrent.maxFiles`: a torrent holding more files is refused with the count. */
  maxFiles: number;
  /** `torrent.maxTrackers`: the trackers after the first this many are ignored. */
  maxTrackers: number;
  /** `torrent.seed`: where delivered torrents go on seeding; absent, nothing seeds. */
  seeding?: TorrentSeeding;
  now?: () => number;
  /** How often progress is reported (ms). */
  progressEveryMs?: number;
}

/** How often a running torrent looks at the free disk space. */
const DISK_CHECK_MS = 2000;


function torrentError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (isDiskFull(error)) return diskFullError(error);
  return new DownloadError("TORRENT_FAILED", `torrent: ${message}`, {
    retryable: true,
    cause: error,
    reason: { kind: "torrentClientFailed", detail: message },
  });
}

/**
 * Downloads a torrent with the shared WebTorrent client into the item's directory. Magnets wait
 * for metadata (a dead torrent fails after `metadataTimeoutMs`); the metadata is stored, so a retry
 * or a restart re-adds the torrent at once, and webtorrent verifies the pieces already on disk
 * instead of fetching them again. Files over the size limit are never selected. The torrent
 * leaves the client before this returns, whatever happened; with `torrent.seed` the delivered files
 * are handed to `TorrentSeeding`, which seeds them from their own directory.
 *
 * An item whose URL is http(s) is a .torrent behind a link: it is fetched, stored, and the item
 * handed back to this handler as the torrent's magnet.
 */
export function createTorrentSource(deps: TorrentSourceDeps): Source {
  const now = deps.now ?? Date.now;
  return {
    kind: "torrent",
    async download(ctx: SourceContext): Promise<SourceResult> {
      const { item, signal, logger } = ctx;
      if (signal.aborted) throw stopReason(signal);
      await pruneMetainfo(deps.db, now()).catch((error) => logger.warn({ err: String(error) }, "could not prune torrent metadata"));

      if (/^https?:/i.test(item.url)) return torrentFromLink(deps, ctx, now());

      const magnet = await parseMagnet(item.url);
      let torrentId: ParsedTorrent | undefined;
      const stored = await findMetainfo(deps.db, magnet.infoHash);
      if (stored) {
        try {
          torrentId = (await parseTorrentFile(stored)).parsed;
          // A stored .torrent has no exact sources (`xs`), and `buildMagnet` writes none: webtorrent
          // would fetch them itself, outside the guard.
          torrentId.announce = [...new Set([...torrentId.announce, ...magnet.trackers])];
        } catch (error) {
          logger.warn({ err: String(error) }, "stored torrent metadata unreadable; waiting for peers instead");
        }
      }
      // A parsed object, never the string: webtorrent fetches non-magnet strings as URLs or paths.
      const hadMetadata = torrentId !== undefined;
      torrentId ??= await parseTorrent(buildMagnet(magnet));
      const limited = limitTrackers(torrentId.announce ?? [], deps.maxTrackers);
      if (limited.overLimit > 0) {
        logger.info({ listed: limited.kept.length + limited.overLimit, ignored: limited.overLimit, maxTrackers: deps.maxTrackers }, "ignored the trackers over torrent.maxTrackers");
      }
      if (limited.unusable.length > 0) logger.info({ trackers: limited.unusable.slice(0, 10) }, "ignored trackers the client does not use (WebRTC is off)");
      const trackers = await filterReachableUrls(limited.kept, deps.policy, deps.resolve);
      if (trackers.dropped.length) logger.info({ trackers: trackers.dropped }, "dropped trackers on private networks");
      torrentId.announce = trackers.kept;
      // Web seeds are off (see webTorrentOptions): none is handed to the client at all.
      if (torrentId.urlList?.length) logger.info({ webSeeds: torrentId.urlList.slice(0, 10) }, "ignored the torrent's web seeds (web seeds are off)");
      torrentId.urlList = [];
      if (signal.aborted) throw stopReason(signal);
      return run(ctx, magnet.infoHash, torrentId, hadMetadata);
    },
  };

  async function run(ctx: SourceContext, infoHash: string, torrentId: ParsedTorrent, hadMetadata: boolean): Promise<SourceResult> {
    const { signal, logger } = ctx;
    const client = await deps.clients.get();
    const leftover = await client.get(infoHash);
    if (leftover) await destroyTorrent(leftover);

    const torrent = client.add(torrentId, { path: ctx.dir, store: safeStore(ctx.dir), deselect: true });
    limitRequests(torrent);
    let phase: "metadata" | "checking" | "downloading" = "metadata";
    let selection: FileSelection | undefined;
    let diskPaths: string[] = [];
    let multiFile = false;
    let lastBytes = -1;
    let lastChange = now();
    let lastDiskCheck = 0;
    let recorded: Promise<void> = Promise.resolve();

    // The files once they are all there, or the question to ask before any is fetched.
    let settle!: { resolve: (result: DeliverableFile[] | ChoiceOffer) => void; reject: (error: unknown) => void };
    const finished = new Promise<DeliverableFile[] | ChoiceOffer>((resolve, reject) => (settle = { resolve, reject }));
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      settle.reject(error);
    };

    const wantedBytes = (): number => {
      if (!selection || torrent.destroyed) return 0;
      return selection.wanted.reduce((sum, e) => sum + Math.min(torrent.files[e.index]?.downloaded ?? 0, e.length), 0);
    };
    const report = () => {
      if (torrent.destroyed || settled) return;
      const peers = torrent.numPeers;
      if (phase === "metadata") {
        ctx.progress({ bytesDone: 0, totalBytes: null, stage: { kind: "torrent-metadata", peers } });
        return;
      }
      const done = wantedBytes();
      const total = selection?.wantedBytes ?? null;
      if (phase === "checking") {
        ctx.progress({ bytesDone: done, totalBytes: total, stage: { kind: "torrent-checking", peers } });
        return;
      }
      ctx.progress({ bytesDone: done, totalBytes: total, stage: { kind: "torrent", peers, downBytesPerSec: torrent.downloadSpeed, upBytesPerSec: torrent.uploadSpeed } });
      // webtorrent writes on its own: stop it before the disk is full.
      if (now() - lastDiskCheck >= DISK_CHECK_MS) {
        lastDiskCheck = now();
        ctx.ensureDiskRoom().catch((error: unknown) => fail(torrentError(error)));
      }
      if (done !== lastBytes) {
        lastBytes = done;
        lastChange = now();
      } else if (now() - lastChange > deps.stallTimeoutMs) {
        fail(torrentStalledError(deps.stallTimeoutMs, torrent.numPeers));
      }
    };
    const check = () => {
      if (settled || phase !== "downloading" || !selection || torrent.destroyed) return;
      if (!selection.wanted.every((e) => torrent.files[e.index]?.done)) return;
      settled = true;
      settle.resolve(
        selection.wanted.map((e) => {
          const file = diskPaths[e.index]!;
          return {
            path: file,
            name: path.basename(file),
            size: e.length,
            ...(multiFile ? { caption: torrentCaption(e.path) } : {}),
          };
        }),
      );
    };

    const onMetadata = () => {
      clearTimeout(metadataTimer);
      const entries = entriesOf(torrent);
      // Before anything is selected: not one piece of it is asked for.
      const count = fileCount(entries);
      if (count > deps.maxFiles) {
        const refused = tooManyFilesError(count, deps.maxFiles);
        logger.info({ infoHash, files: count, maxFiles: deps.maxFiles }, "torrent refused: too many files");
        // Named in the failure line by its real name, not the magnet's.
        ctx
          .checkpoint({ title: safeTitle(torrent.name || ctx.item.title) })
          .catch((error: unknown) => logger.warn({ err: String(error) }, "could not record the torrent's name"))
          .finally(() => fail(refused));
        return;
      }
      selection = selectFiles(entries, ctx.maxBytes);
      multiFile = count > 1;
      diskPaths = torrentDiskPaths(ctx.dir, torrent.files.map((f) => f.path));
      if (selection.wanted.length === 0) {
        fail(
          selection.tooLarge.length > 0
            ? allTooLargeError(selection, ctx.maxBytes)
            : emptyTorrentError(),
        );
        return;
      }
      // More than one file to pick from, and nobody chose yet: ask first, fetch nothing.
      const offer = fileOffer(entries, selection);
      if (ctx.ask?.files && offer.files.filter((f) => f.selectable).length > 1) {
        logger.info({ infoHash, files: offer.files.length }, "torrent metadata: asking which files");
        recorded = rememberMetadata(ctx, infoHash, torrent, hadMetadata).catch((error) => logger.warn({ err: String(error) }, "could not record torrent metadata"));
        settled = true;
        settle.resolve(offer);
        return;
      }
      selection = applyChoice(selection, ctx.choice);
      // Selected synchronously, before webtorrent checks the disk and asks peers for pieces.
      for (const e of selection.wanted) {
        const file = torrent.files[e.index]!;
        file.select();
        file.once("done", check);
      }
      phase = "checking";
      logger.info({ infoHash, files: entries.length, wanted: selection.wanted.length, bytes: selection.wantedBytes }, "torrent metadata");
      recorded = afterMetadata(ctx, infoHash, torrent, selection, hadMetadata).catch((error) =>
        logger.warn({ err: String(error) }, "could not record torrent metadata"),
      );
      report();
    };

    const onAbort = () => fail(stopReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    // A cancel or pause while a leftover of this torrent was leaving the client came before the listener.
    if (signal.aborted) onAbort();
    const metadataTimer = setTimeout(() => fail(deadTorrentError(deps.metadataTimeoutMs, torrent.destroyed ? 0 : torrent.numPeers)), deps.metadataTimeoutMs);
    const ticker = setInterval(report, deps.progressEveryMs ?? 500);

    torrent.on("error", (error: unknown) => fail(torrentError(error)));
    // Taken out of the client by anything but the `finally` below (the client destroys itself and
    // every torrent, without a torrent error, when its DHT or listening socket fails): without
    // this, the item would wait forever and hold up the whole queue.
    torrent.once("close", () => fail(torrentClosedError()));
    torrent.on("warning", (warning: unknown) => logger.debug({ warning: String(warning) }, "torrent warning"));
    torrent.once("metadata", onMetadata);
    torrent.once("ready", () => {
      phase = "downloading";
      lastChange = now();
      report();
      check();
    });
    report();

    let files: DeliverableFile[] | ChoiceOffer;
    try {
      files = await finished;
      // The size, the title and the skipped-files notice land before the upload starts.
      await recorded;
      if (Array.isArray(files)) logger.info({ infoHash, files: files.length }, "torrent downloaded");
    } finally {
      clearTimeout(metadataTimer);
      clearInterval(ticker);
      signal.removeEventListener("abort", onAbort);
      // Out of the client before the worker uploads (or deletes) the files.
      await destroyTorrent(torrent);
    }
    if (!Array.isArray(files)) return { kind: "choose", offer: files };
    if (deps.seeding && selection && torrent.torrentFile) {
      const wanted = selection;
      const metainfo = torrent.torrentFile;
      await deps.seeding
        .start({
          infoHash,
          metainfo,
          fromDir: ctx.dir,
          files: wanted.wanted.map((e) => ({ index: e.index, path: path.relative(ctx.dir, diskPaths[e.index]!) })),
          bytes: wanted.wantedBytes,
        })
        .catch((error) => logger.warn({ err: error instanceof Error ? error.message : String(error) }, "could not start seeding"));
    }
    return { kind: "files", files };
  }

  /** Before a question: the metadata stored (the chosen files start at once) and the real name shown. */
  async function rememberMetadata(ctx: SourceContext, infoHash: string, torrent: Torrent, hadMetadata: boolean): Promise<void> {
    if (!hadMetadata && torrent.torrentFile) await saveMetainfo(deps.db, infoHash, torrent.torrentFile, now());
    await ctx.checkpoint({ title: safeTitle(torrent.name || ctx.item.title) });
  }

  /** Stores magnet metadata for the next attempt, records the size, names skipped files once. */
  async function afterMetadata(
    ctx: SourceContext,
    infoHash: string,
    torrent: Torrent,
    selection: FileSelection,
    hadMetadata: boolean,
  ): Promise<void> {
    const { item } = ctx;
    if (!hadMetadata && torrent.torrentFile) await saveMetainfo(deps.db, infoHash, torrent.torrentFile, now());
    await ctx.checkpoint({ title: safeTitle(torrent.name || item.title), sizeBytes: selection.wantedBytes });
    const notice = skippedFiles(torrent.name || item.title, selection, ctx.maxBytes);
    if (notice && (await claimNotice(deps.db, item.id, "skipped", now()))) {
      await ctx.notice(notice).catch((error: unknown) => ctx.logger.warn({ err: String(error) }, "could not send the skipped-files notice"));
    }
  }
}
