import path from "node:path";
import { DownloadError, type ErrorReason, InputError } from "../../errors.ts";
import { safeFileName } from "../../storage/paths.ts";
import { CAPTION_LIMIT, formatDuration, truncate } from "../../text/format.ts";
import type { Choice, ChoiceOffer } from "../../items/choice.ts";
import type { SourceNotice } from "../source.ts";

/**
 * Pure helpers for torrents: which files to fetch, where they go on disk, how a magnet is written.
 * Everything here is decided from other people's metadata, so nothing trusts a name or a size.
 */

/** One file of a torrent as the metadata describes it. */
export interface TorrentEntry {
  index: number;
  /** Path inside the torrent ("album/cd1/01.flac"), as parse-torrent normalised it. */
  path: string;
  length: number;
  /** A BEP 47 padding file: filler between real files, never delivered. */
  padding?: boolean;
}

export interface FileSelection {
  wanted: TorrentEntry[];
  /** Over the per-file limit: not downloaded, named in the chat. */
  tooLarge: TorrentEntry[];
  /** Empty files: Telegram refuses them, nothing to deliver. */
  empty: TorrentEntry[];
  wantedBytes: number;
}

/** Splits the files into those to fetch and those to skip, in torrent order. */
export function selectFiles(entries: readonly TorrentEntry[], maxFileBytes: number): FileSelection {
  const selection: FileSelection = { wanted: [], tooLarge: [], empty: [], wantedBytes: 0 };
  for (const entry of entries) {
    if (entry.padding) continue;
    if (entry.length === 0) selection.empty.push(entry);
    else if (entry.length > maxFileBytes) selection.tooLarge.push(entry);
    else {
      selection.wanted.push(entry);
      selection.wantedBytes += entry.length;
    }
  }
  return selection;
}

/** The files as a question offers them: every real file, those over the limit or empty not pickable. */
export function fileOffer(entries: readonly TorrentEntry[], selection: FileSelection): Extract<ChoiceOffer, { kind: "files" }> {
  const pickable = new Set(selection.wanted.map((e) => e.index));
  return {
    kind: "files",
    files: entries.filter((e) => !e.padding).map((e) => ({ index: e.index, path: e.path, size: e.length, selectable: pickable.has(e.index) })),
  };
}

/** The selection narrowed to the files chosen (a `files` choice); any other choice keeps it whole. */
export function applyChoice(selection: FileSelection, choice: Choice | null | undefined): FileSelection {
  if (choice?.kind !== "files") return selection;
  const picked = new Set(choice.indices);
  const wanted = selection.wanted.filter((e) => picked.has(e.index));
  return { ...selection, wanted, wantedBytes: wanted.reduce((sum, e) => sum + e.length, 0) };
}

/** A torrent's name as an item's title: trimmed, at most 300 characters, safe as a file name. */
export function safeTitle(name: string): string {
  return safeFileName(name.trim().slice(0, 300), "torrent");
}

/** True for a BEP 47 padding file (`attr` contains "p"). */
export function isPaddingAttr(attr: Uint8Array | string | undefined): boolean {
  if (attr === undefined) return false;
  const text = typeof attr === "string" ? attr : Buffer.from(attr).toString("latin1");
  return text.includes("p");
}

/** How many of the files over the limit a refusal names (the rest are counted). */
const NAMED_FILES = 10;

/** Every file is over the limit: nothing to download. Not retryable (the limit will not change). */
export function allTooLargeError(selection: FileSelection, maxFileBytes: number): DownloadError {
  const files = selection.tooLarge;
  return new DownloadError("TOO_LARGE", `torrent: ${files.length} files, all over the ${maxFileBytes}-byte limit`, {
    reason: {
      kind: "torrentFilesTooLarge",
      files: files.slice(0, NAMED_FILES).map((f) => ({ path: f.path, size: f.length })),
      count: files.length,
      limit: maxFileBytes,
    },
  });
}

/** How many files a torrent holds, BEP 47 padding left out (what a person would count). */
export function fileCount(entries: readonly TorrentEntry[]): number {
  return entries.filter((e) => !e.padding).length;
}

/**
 * More files than `torrent.maxFiles`: refused before anything is fetched, since every file would
 * be uploaded into the chat. Not retryable (the torrent will not change).
 */
export function tooManyFilesError(count: number, maxFiles: number): DownloadError {
  return new DownloadError("TOO_LARGE", `torrent: ${count} files, over torrent.maxFiles (${maxFiles})`, {
    reason: { kind: "torrentTooManyFiles", count, max: maxFiles },
  });
}

/** What a multi-file torrent skips (too large, empty), for the chat; null when nothing is skipped. */
export function skippedFiles(title: string, selection: FileSelection, maxFileBytes: number): SourceNotice | null {
  if (selection.tooLarge.length === 0 && selection.empty.length === 0) return null;
  const files = (entries: readonly TorrentEntry[]) => entries.map((e) => ({ path: e.path, length: e.length }));
  return { kind: "files-skipped", title, tooLarge: files(selection.tooLarge), empty: files(selection.empty), limitBytes: maxFileBytes };
}

/** The caption of a delivered file of a multi-file torrent: its path inside the torrent. */
export function torrentCaption(torrentPath: string): string {
  return truncate(torrentPath, CAPTION_LIMIT);
}

/**
 * Where each file of a torrent goes below `root`: every segment made one harmless name (no "..",
 * no separators, no device names, no control characters), so nothing lands outside `root`. Two
 * paths that clean up to the same name, or a file whose name is another file's folder, get a
 * "~<index>" suffix so no two files ever share bytes on disk. Returns absolute paths in order.
 */
export function torrentDiskPaths(root: string, torrentPaths: readonly string[]): string[] {
  const base = path.resolve(root);
  const files = new Set<string>();
  const dirs = new Set<string>();
  return torrentPaths.map((torrentPath, index) => {
    const segments = torrentPath
      .split("/")
      .filter((s) => s !== "" && s !== "." && s !== "..")
      .map((s) => safeFileName(s, "_"));
    if (segments.length === 0) segments.push(`file-${index}`);
    const clashes = (candidate: string[]): boolean => {
      const full = path.join(base, ...candidate);
      if (files.has(full) || dirs.has(full)) return true;
      // A folder of this path is already a file.
      for (let i = 1; i < candidate.length; i++) if (files.has(path.join(base, ...candidate.slice(0, i)))) return true;
      return false;
    };
    let chosen = segments;
    if (clashes(chosen)) {
      const name = segments[segments.length - 1]!;
      const ext = path.extname(name);
      const renamed = `${name.slice(0, name.length - ext.length)}~${index}${ext}`;
      chosen = [...segments.slice(0, -1), renamed];
      // Still clashing only when a folder on the way is a file: flatten to the top level.
      if (clashes(chosen)) chosen = [`${safeFileName(segments.join("_"), "_")}~${index}`];
    }
    const full = path.join(base, ...chosen);
    if (!full.startsWith(base + path.sep)) throw new Error(`torrent path escapes ${base}`);
    files.add(full);
    for (let i = 1; i < chosen.length; i++) dirs.add(path.join(base, ...chosen.slice(0, i)));
    return full;
  });
}

export const INFO_HASH = /^[0-9a-f]{40}$/;

/** What a magnet link carries, once checked. */
export interface MagnetParts {
  infoHash: string;
  name?: string;
  trackers: string[];
  webSeeds: string[];
  peers: string[];
}

/**
 * Writes the canonical form of a magnet: the hex info hash first, then name, trackers, web seeds
 * and peer addresses. Stored as the item's URL, so the same torrent queued twice is one item and
 * the hash can be found in the URL.
 */
export function buildMagnet(parts: MagnetParts): string {
  if (!INFO_HASH.test(parts.infoHash)) throw new Error(`not a hex info hash: ${parts.infoHash}`);
  const params = [`xt=urn:btih:${parts.infoHash}`];
  if (parts.name) params.push(`dn=${encodeURIComponent(parts.name)}`);
  for (const tr of parts.trackers) params.push(`tr=${encodeURIComponent(tr)}`);
  for (const ws of parts.webSeeds) params.push(`ws=${encodeURIComponent(ws)}`);
  for (const pe of parts.peers) params.push(`x.pe=${encodeURIComponent(pe)}`);
  return `magnet:?${params.join("&")}`;
}

/** The info hash of a canonical magnet (as built by `buildMagnet`), or null. */
export function infoHashOfMagnet(url: string): string | null {
  const match = /^magnet:\?(?:.*&)?xt=urn:btih:([0-9a-f]{40})(?:&|$)/i.exec(url);
  return match ? match[1]!.toLowerCase() : null;
}

export function invalidMagnetError(problem: Extract<ErrorReason, { kind: "invalidMagnet" }>["problem"]): InputError {
  return new InputError("INVALID_URL", `invalid magnet link: ${problem}`, { reason: { kind: "invalidMagnet", problem } });
}

export function invalidTorrentFileError(reason: string): InputError {
  return new InputError("TORRENT_FAILED", `invalid .torrent file: ${reason}`, {
    reason: { kind: "invalidTorrentFile" },
  });
}

/** The name a torrent is shown under before its metadata is known. */
export function magnetTitle(parts: Pick<MagnetParts, "infoHash" | "name">): string {
  return parts.name?.trim() ? parts.name.trim() : `torrent ${parts.infoHash.slice(0, 12)}`;
}

/** No new verified bytes for `stallMs`: the swarm went quiet (retryable). */
export function torrentStalledError(stallMs: number, peers: number): DownloadError {
  return new DownloadError("STALLED", `torrent: no data for ${formatDuration(stallMs)} (${peers} peers)`, {
    retryable: true,
    reason: { kind: "torrentStalled", ms: stallMs, peers },
  });
}

/** No metadata within `timeoutMs`: nobody (or nobody willing) has the torrent (retryable). */
export function deadTorrentError(timeoutMs: number, peers: number): DownloadError {
  return new DownloadError("DEAD_TORRENT", `no metadata within ${timeoutMs} ms (${peers} peers)`, {
    retryable: true,
    reason: { kind: "deadTorrent", ms: timeoutMs, peers },
  });
}

/** The client took the torrent out on its own (it destroyed itself): retried on a new client. */
export function torrentClosedError(): DownloadError {
  return new DownloadError("TORRENT_FAILED", "torrent: closed by the torrent client", {
    retryable: true,
    reason: { kind: "torrentClosed" },
  });
}

export function emptyTorrentError(): DownloadError {
  return new DownloadError("TORRENT_FAILED", "torrent has only empty files", { reason: { kind: "torrentEmpty" } });
}
