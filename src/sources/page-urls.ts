import path from "node:path";

/** The URLs a page names: made absolute, and what their file extensions say. Pure. */

/** Extensions that make an `<a href>` a file worth queueing: video, audio, archives, disc images. */
export const FILE_EXTENSIONS: ReadonlySet<string> = new Set([
  // video
  // (not ".ts": in a listing, that is far more often TypeScript than an MPEG transport stream)
  ".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".3gp", ".ogv",
  // audio
  ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".wav", ".wma",
  // archives and images of discs
  ".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".iso",
]);

/** Pictures: what a lazy page puts in a video's `src` until a script swaps in the real address. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([".gif", ".png", ".jpg", ".jpeg", ".webp", ".avif", ".svg", ".bmp", ".ico"]);

/** Stream manifests a player loads (downloaded with ffmpeg). */
export const STREAM_EXTENSIONS: ReadonlySet<string> = new Set([".m3u8", ".mpd"]);

/** URLs longer than this are left out. */
const MAX_URL_LENGTH = 2048;

/**
 * An attribute value as an absolute http(s) URL without fragment; null for empty values, data:,
 * javascript:, mailto: and anything else that is not a web address.
 */
export function resolveUrl(href: string | undefined, base: string): string | null {
  const value = href?.trim();
  if (!value) return null;
  let url: URL;
  try {
    url = new URL(value, base);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (!url.hostname) return null;
  url.hash = "";
  const text = url.toString();
  return text.length > MAX_URL_LENGTH ? null : text;
}

/**
 * Whether a media element's `src` is a lazy page's placeholder rather than its address: empty, a
 * bare `#`, a data: (or about:, blob:, javascript:) URI, or a picture (a 1x1 gif, a spinner).
 *
 * @example
 * isPlaceholderSrc("data:image/gif;base64,R0lGOD") // → true
 * isPlaceholderSrc("/img/blank.gif") // → true
 * isPlaceholderSrc("clip.mp4") // → false
 */
export function isPlaceholderSrc(value: string): boolean {
  const v = value.trim();
  if (!v || v.startsWith("#")) return true;
  // Another scheme than http(s): data:, about:blank, blob:, javascript:.
  if (/^[a-z][a-z\d+.-]*:/i.test(v) && !/^https?:/i.test(v)) return true;
  // Read as text, not parsed as a URL: a player may list tens of thousands of sources.
  const pathPart = v.split(/[?#]/, 1)[0]!;
  const dot = pathPart.lastIndexOf(".");
  return dot > pathPart.lastIndexOf("/") && IMAGE_EXTENSIONS.has(pathPart.slice(dot).toLowerCase());
}

/** ".mp4" for "https://x/a/clip.MP4?t=1"; "" when the path has no extension. */
export function extensionOfUrl(url: string): string {
  try {
    const last = new URL(url).pathname.split("/").pop() ?? "";
    return path.extname(safeDecode(last)).toLowerCase();
  } catch {
    return "";
  }
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
