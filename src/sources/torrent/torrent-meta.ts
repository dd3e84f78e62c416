import type { Got } from "got";
import type { ParsedTorrent } from "parse-torrent";
import { DownloadError } from "../../errors.ts";
import { classifyHttpError } from "../../net/http-client.ts";
import { readCapped, responseOf } from "../http-probe.ts";
import {

  INFO_HASH,
  type MagnetParts,
  type TorrentEntry,
  invalidMagnetError,
  invalidTorrentFileError,
  isPaddingAttr,
} from "./torrent-files.ts";

/** parse-torrent, loaded on first use: it pulls in much of the torrent stack, which many bots never need. */
export async function parseTorrent(id: string | Uint8Array | ParsedTorrent): Promise<ParsedTorrent> {
  const { default: parse } = await import("parse-torrent");
  return parse(id);
}

/**
 * Reading torrents people send: magnet links, .torrent bytes, and .torrent files behind a URL.
 * parse-torrent does the decoding; this module turns its failures into our errors.
 */

/** A .torrent is metadata: a few KB to a few MB. Anything bigger is not one. */
export const MAX_TORRENT_FILE_BYTES = 10 * 1024 * 1024;

export async function parseMagnet(text: string): Promise<MagnetParts> {
  const uri = text.trim();
  if (!/^magnet:\?/i.test(uri)) throw invalidMagnetError("notMagnet");
  let parsed: ParsedTorrent;
  try {
    // parse-torrent only recognises the lower-case scheme.
    parsed = await parseTorrent(`magnet:?${uri.slice("magnet:?".length)}`);
  } catch (error) {
    if (/btmh:/i.test(uri)) throw invalidMagnetError("v2Only");
    throw invalidMagnetError(error instanceof URIError ? "badEncoding" : "noInfoHash");
  }
  const infoHash = String(parsed.infoHash ?? "").toLowerCase();
  if (!INFO_HASH.test(infoHash)) throw invalidMagnetError("noInfoHash");
  return {
    infoHash,
    ...(typeof parsed.name === "string" && parsed.name.trim() ? { name: parsed.name.trim() } : {}),
    trackers: parsed.announce ?? [],
    webSeeds: parsed.urlList ?? [],
    peers: parsed.peerAddresses ?? [],
  };
}

export interface TorrentFileInfo {
  parsed: ParsedTorrent;
  infoHash: string;
  name: string;
  entries: TorrentEntry[];
}

/** The files a parsed torrent lists (with metadata), padding files marked. */
export function entriesOf(parsed: { files?: Array<{ path: string; length: number }>; info?: ParsedTorrent["info"] }): TorrentEntry[] {
  const raw = parsed.info?.files;
  return (parsed.files ?? []).map((file, index) => ({
    index,
    path: file.path,
    length: file.length,
    ...(isPaddingAttr(raw?.[index]?.attr) ? { padding: true } : {}),
  }));
}

/** Decodes .torrent bytes; anything that is not one is an InputError ("not a valid .torrent file"). */
export async function parseTorrentFile(bytes: Uint8Array): Promise<TorrentFileInfo> {
  let parsed: ParsedTorrent;
  try {
    parsed = await parseTorrent(bytes);
  } catch (error) {
    throw invalidTorrentFileError(error instanceof Error ? error.message : String(error));
  }
  if (!parsed.info || !parsed.files || !INFO_HASH.test(parsed.infoHash)) throw invalidTorrentFileError("no info dictionary");
  return { parsed, infoHash: parsed.infoHash, name: String(parsed.name ?? parsed.infoHash), entries: entriesOf(parsed) };
}

/**
 * Fetches a .torrent over HTTP through the guarded client (private networks refused like any URL),
 * refusing bodies over MAX_TORRENT_FILE_BYTES and web pages. A server that sends nothing for
 * `stallMs` fails the fetch (retryable): the body has no other time limit, and the queue waits on it.
 */
export async function fetchTorrentFile(http: Got, url: string, signal?: AbortSignal, stallMs = 60_000): Promise<Buffer> {
  const stream = http.stream(url, { signal, timeout: { socket: stallMs }, headers: { accept: "application/x-bittorrent, */*;q=0.5" } });
  stream.on("error", () => {});
  try {
    const response = await responseOf(stream);
    const type = String(response.headers["content-type"] ?? "");
    if (/^\s*(text\/html|application\/xhtml\+xml)\b/i.test(type)) {
      throw new DownloadError("TORRENT_FAILED", `${url} is a web page, not a .torrent`, {
        reason: { kind: "torrentLinkIsPage" },
      });
    }
    return await readCapped(stream, MAX_TORRENT_FILE_BYTES, () =>
      new DownloadError("TOO_LARGE", `.torrent over ${MAX_TORRENT_FILE_BYTES} bytes`, { reason: { kind: "torrentLinkTooLarge", limit: MAX_TORRENT_FILE_BYTES } }),
    );
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    throw classifyHttpError(error, url);
  } finally {
    stream.destroy();
  }
}
