import { Parser as M3u8Parser } from "m3u8-parser";
import { inheritAttributes, parse as parseMpd, stringToMpdXml } from "mpd-parser";
import { DownloadError, type ErrorReason } from "../../errors.ts";

/**
 * HLS playlists and DASH manifests, read with videojs's parsers (m3u8-parser, mpd-parser) into
 * one shape: the tracks to fetch, each a flat list of byte pieces (init sections, segments) that
 * joined in order make one media file. Everything here is pure; what a manifest names is checked
 * (http(s) only, a port that exists, no live stream, no DRM) before anything is fetched.
 */

/** One piece of a track: a whole URL or a byte range of it, maybe AES-128 encrypted. */
export interface StreamPiece {
  url: string;
  range?: { offset: number; length: number };
  /** AES-128-CBC: the key's URL and the IV as 32 hex digits. */
  key?: { url: string; iv: string };
}

export interface StreamTrack {
  pieces: StreamPiece[];
}

/** A rendition to offer: a video (maybe muxed with audio) and, when separate, its audio. */
export interface StreamVariant {
  bandwidth: number;
  height: number | null;
  /** Where the variant's media playlist is (HLS); absent when its pieces are known (DASH, or a media playlist itself). */
  playlistUrl?: string;
  track?: StreamTrack;
  /** A separate audio rendition: its playlist (HLS) or its pieces (DASH). */
  audio?: { playlistUrl?: string; track?: StreamTrack };
}

export type ParsedManifest =
  /** A list of variants (an HLS master playlist, a DASH manifest). */
  | { kind: "variants"; variants: StreamVariant[]; durationSeconds: number }
  /** One track's pieces (an HLS media playlist). */
  | { kind: "track"; track: StreamTrack; durationSeconds: number };

/** The most pieces one stream may list (a day of 2-second segments). */
export const MAX_PIECES = 50_000;

function refused(detail: string, reason: ErrorReason): DownloadError {
  return new DownloadError("NO_MEDIA", `stream: ${detail}`, { reason });
}

/**
 * The absolute http(s) URL a manifest entry names, resolved against the manifest's own URL.
 * Anything else (file:, tcp:, udp:, httpproxy:, data:, a port over 65535) refuses the stream:
 * a manifest that names such a thing is not one the bot fetches any part of.
 */
export function pieceUrl(uri: string, base: string): string {
  let url: URL;
  try {
    url = new URL(uri, base);
  } catch {
    throw refused(`bad URI in the manifest: ${uri.slice(0, 100)}`, { kind: "streamBadAddress" });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw refused(`refused a ${url.protocol} URI in the manifest`, { kind: "streamNotHttp", protocol: url.protocol.replace(":", "") });
  }
  return url.href;
}

/** The IV of an HLS segment: the one the playlist gives, else its media sequence number. Pure. */
export function segmentIv(iv: Uint32Array | number[] | undefined, sequence: number): string {
  if (iv && iv.length === 4) return [...iv].map((w) => (w >>> 0).toString(16).padStart(8, "0")).join("");
  return sequence.toString(16).padStart(32, "0");
}

interface HlsSegment {
  uri: string;
  duration?: number;
  byterange?: { length: number; offset: number };
  key?: { method?: string; uri?: string; iv?: Uint32Array };
  map?: { uri: string; byterange?: { length: number; offset: number } };
}

interface HlsManifest {
  playlists?: Array<{ uri: string; attributes?: { BANDWIDTH?: number; RESOLUTION?: { height?: number }; AUDIO?: string } }>;
  mediaGroups?: { AUDIO?: Record<string, Record<string, { default?: boolean; uri?: string }>> };
  segments?: HlsSegment[];
  endList?: boolean;
  mediaSequence?: number;
  playlistType?: string;
}

/** Reads an HLS playlist (master or media). */
export function parseHls(text: string, url: string): ParsedManifest {
  const parser = new M3u8Parser();
  parser.push(text);
  parser.end();
  const manifest = parser.manifest as HlsManifest;
  const playlists = manifest.playlists ?? [];
  if (playlists.length > 0) {
    const variants = playlists.map((p): StreamVariant => {
      const group = p.attributes?.AUDIO ? manifest.mediaGroups?.AUDIO?.[p.attributes.AUDIO] : undefined;
      const renditions = Object.values(group ?? {});
      const audio = renditions.find((r) => r.default && r.uri) ?? renditions.find((r) => r.uri);
      return {
        bandwidth: p.attributes?.BANDWIDTH ?? 0,
        height: p.attributes?.RESOLUTION?.height ?? null,
        playlistUrl: pieceUrl(p.uri, url),
        ...(audio?.uri ? { audio: { playlistUrl: pieceUrl(audio.uri, url) } } : {}),
      };
    });
    return { kind: "variants", variants, durationSeconds: 0 };
  }
  const segments = manifest.segments ?? [];
  if (!manifest.endList) {
    throw refused("a live stream (no #EXT-X-ENDLIST)", { kind: "streamLive" });
  }
  if (segments.length === 0) throw refused("an empty playlist", { kind: "streamEmptyPlaylist" });
  const pieces: StreamPiece[] = [];
  let lastMap: string | undefined;
  const sequence = manifest.mediaSequence ?? 0;
  let duration = 0;
  for (const [index, segment] of segments.entries()) {
    duration += segment.duration ?? 0;
    const method = segment.key?.method;
    if (method && method !== "NONE" && method !== "AES-128") {
      throw refused(`encrypted with ${method}`, { kind: "streamEncrypted" });
    }
    const key = method === "AES-128" && segment.key?.uri ? { url: pieceUrl(segment.key.uri, url), iv: segmentIv(segment.key.iv, sequence + index) } : undefined;
    if (segment.map) {
      const map = { url: pieceUrl(segment.map.uri, url), ...(segment.map.byterange ? { range: { ...segment.map.byterange } } : {}) };
      const id = JSON.stringify(map);
      // An init section is fetched again only where it changes (a discontinuity).
      if (id !== lastMap) pieces.push(map);
      lastMap = id;
    }
    pieces.push({
      url: pieceUrl(segment.uri, url),
      ...(segment.byterange ? { range: { offset: segment.byterange.offset, length: segment.byterange.length } } : {}),
      ...(key ? { key } : {}),
    });
  }
  return { kind: "track", track: { pieces }, durationSeconds: duration };
}

interface DashPlaylist {
  attributes?: { BANDWIDTH?: number; RESOLUTION?: { height?: number }; AUDIO?: string };
  segments?: Array<{ resolvedUri: string; map?: { resolvedUri: string; byterange?: { length: number; offset: number } }; byterange?: { length: number; offset: number } }>;
  sidx?: unknown;
  endList?: boolean;
  contentProtection?: unknown;
}

/** DASH's tracks, as pieces: the init section, then every segment (a single-file representation is one piece). */
function dashTrack(playlist: DashPlaylist, url: string): StreamTrack {
  if (playlist.contentProtection) {
    throw refused("DASH content protection", { kind: "streamDrm" });
  }
  const pieces: StreamPiece[] = [];
  let lastMap: string | undefined;
  for (const segment of playlist.segments ?? []) {
    if (segment.map) {
      const map = { url: pieceUrl(segment.map.resolvedUri, url), ...(segment.map.byterange ? { range: { ...segment.map.byterange } } : {}) };
      const id = JSON.stringify(map);
      if (id !== lastMap) pieces.push(map);
      lastMap = id;
    }
    // A representation indexed by a sidx box is one file: fetched whole, it holds everything.
    const range = segment.byterange && !playlist.sidx ? { range: { ...segment.byterange } } : {};
    pieces.push({ url: pieceUrl(segment.resolvedUri, url), ...range });
  }
  if (pieces.length === 0) throw refused("a representation without segments", { kind: "streamNoSegments" });
  return { pieces };
}

interface DashRepresentationInfo {
  attributes: { type?: string; sourceDuration?: number; duration?: number; timescale?: number };
  segmentInfo: { template?: { duration?: number; timescale?: number }; segmentTimeline?: Array<{ d?: number; r?: number }> };
}

const LIVE = () => refused("a live stream (dynamic MPD)", { kind: "streamLive" });

/**
 * How many segments a manifest would expand to, from mpd-parser's own reading of its attributes,
 * before anything is expanded: a few hostile bytes (a year-long period of 1 ms segments, a live
 * manifest timed from years ago) would otherwise expand into millions of objects. Infinity when
 * a representation's segments cannot be counted.
 */
function dashSegmentCount(representations: DashRepresentationInfo[]): number {
  let count = 0;
  for (const { attributes, segmentInfo } of representations) {
    const timescale = segmentInfo.template?.timescale ?? attributes.timescale ?? 1;
    const duration = attributes.sourceDuration ?? 0;
    if (segmentInfo.segmentTimeline) {
      for (const s of segmentInfo.segmentTimeline) {
        const r = s.r ?? 0;
        count += 1 + (r >= 0 ? r : s.d && s.d > 0 ? Math.ceil((duration * timescale) / s.d) : Number.POSITIVE_INFINITY);
      }
    } else if (segmentInfo.template) {
      const d = segmentInfo.template.duration ?? attributes.duration;
      count += d && d > 0 ? Math.ceil(duration / (d / timescale)) : 1;
    } else {
      count += 1;
    }
  }
  return count;
}

/** What mpd-parser's parse() returns, as far as the bot reads it. */
export interface ParsedMpd {
  playlists?: DashPlaylist[];
  mediaGroups?: { AUDIO?: Record<string, Record<string, { default?: boolean; playlists?: DashPlaylist[] }>> };
  duration?: number;
  minimumUpdatePeriod?: number;
}

/**
 * The cheap look at a DASH manifest before it is expanded: a live one, or one whose segments
 * (counted from mpd-parser's own reading of its attributes) are too many, is refused here. The
 * expansion itself still runs where a manifest this misjudges cannot take the process down
 * (see mpd-isolated.ts).
 */
export function checkDash(text: string, url: string): void {
  try {
    const { representationInfo } = inheritAttributes(stringToMpdXml(text), { manifestUri: url }) as { representationInfo: DashRepresentationInfo[] };
    if (representationInfo.some((r) => r.attributes.type === "dynamic")) throw LIVE();
    const count = dashSegmentCount(representationInfo);
    if (!(count <= MAX_PIECES)) {
      throw refused(`${count} segments`, { kind: "streamTooManySegments", count: Number.isFinite(count) ? count : null, max: MAX_PIECES });
    }
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    throw unreadableDash(error);
  }
}

export function unreadableDash(error: unknown): DownloadError {
  return refused(`unreadable manifest (${error instanceof Error ? error.message : String(error)})`, { kind: "streamUnreadable" });
}

/** Reads a DASH manifest in this thread (tests, and manifests already checked): see `readDash`. */
export function parseDash(text: string, url: string): ParsedManifest {
  checkDash(text, url);
  let manifest: ParsedMpd;
  try {
    manifest = parseMpd(text, { manifestUri: url }) as ParsedMpd;
  } catch (error) {
    throw unreadableDash(error);
  }
  return readDash(manifest, url);
}

/** A parsed DASH manifest's variants: every video representation, each with the default audio. */
export function readDash(manifest: ParsedMpd, url: string): ParsedManifest {
  const playlists = manifest.playlists ?? [];
  if (manifest.minimumUpdatePeriod !== undefined || playlists.some((p) => p.endList === false)) throw LIVE();
  const groups = Object.values(manifest.mediaGroups?.AUDIO ?? {});
  const audioOf = (p: DashPlaylist) => {
    const group = (p.attributes?.AUDIO ? manifest.mediaGroups?.AUDIO?.[p.attributes.AUDIO] : undefined) ?? groups[0];
    const renditions = Object.values(group ?? {});
    const rendition = renditions.find((r) => r.default) ?? renditions[0];
    const best = [...(rendition?.playlists ?? [])].sort((a, b) => (b.attributes?.BANDWIDTH ?? 0) - (a.attributes?.BANDWIDTH ?? 0))[0];
    return best ? { track: dashTrack(best, url) } : undefined;
  };
  const variants: StreamVariant[] = playlists.map((p) => {
    const audio = audioOf(p);
    return {
      bandwidth: (p.attributes?.BANDWIDTH ?? 0) + (audio ? 128_000 : 0),
      height: p.attributes?.RESOLUTION?.height ?? null,
      track: dashTrack(p, url),
      ...(audio ? { audio } : {}),
    };
  });
  if (variants.length === 0) {
    // Audio only.
    const audio = groups.length ? audioOf({}) : undefined;
    if (!audio) throw refused("a manifest without representations", { kind: "streamNoRepresentations" });
    variants.push({ bandwidth: 128_000, height: null, track: audio.track! });
  }
  return { kind: "variants", variants, durationSeconds: manifest.duration ?? 0 };
}

/** A variant's size for the duration (its bandwidth times it), when both are known. Pure. */
export function variantBytes(v: { bandwidth: number }, durationSeconds: number): number | null {
  return v.bandwidth > 0 && durationSeconds > 0 ? Math.round((v.bandwidth / 8) * durationSeconds) : null;
}

/**
 * The variant to take: the highest bandwidth whose size for the duration fits `maxBytes`, else
 * the lowest. Pure.
 */
export function pickVariant<V extends { bandwidth: number }>(variants: readonly V[], durationSeconds: number, maxBytes: number): V {
  const sorted = [...variants].sort((a, b) => b.bandwidth - a.bandwidth);
  const fits = sorted.find((v) => (variantBytes(v, durationSeconds) ?? 0) <= maxBytes);
  return fits ?? sorted[sorted.length - 1]!;
}

/** The container a joined track is, from its first bytes, for a forced ffmpeg demuxer. Pure. */
export function sniffContainer(head: Buffer): "mpegts" | "mp4" | "aac" | "matroska" | undefined {
  if (head.length >= 189 && head[0] === 0x47 && head[188] === 0x47) return "mpegts";
  if (head.length >= 1 && head[0] === 0x47 && head.length < 189) return "mpegts";
  const box = head.subarray(4, 8).toString("latin1");
  if (["ftyp", "styp", "moof", "moov", "sidx", "free", "mdat"].includes(box)) return "mp4";
  if (head.subarray(0, 4).equals(Buffer.from([0x1a, 0x45, 0xdf, 0xa3]))) return "matroska";
  if (head.subarray(0, 3).toString("latin1") === "ID3" || (head[0] === 0xff && ((head[1] ?? 0) & 0xf6) === 0xf0)) return "aac";
  return undefined;
}
