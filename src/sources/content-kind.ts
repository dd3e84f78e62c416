/**
 * What a response is, from its Content-Type, its URL and (for a manifest) its first bytes: a
 * page, a .torrent file, an HLS or DASH stream, or else a file. Every source asks here. Pure.
 */

/** An HTML (or XHTML) page. */
export function isHtml(contentType: string): boolean {
  return /^\s*(text\/html|application\/xhtml\+xml)\b/i.test(contentType);
}

/** A .torrent file: its type says so, or its name does and it is not text. */
export function isTorrentFile(contentType: string, url: string): boolean {
  if (/^\s*application\/x-bittorrent\b/i.test(contentType)) return true;
  try {
    return new URL(url).pathname.toLowerCase().endsWith(".torrent") && !/^\s*text\//i.test(contentType);
  } catch {
    return false;
  }
}

/** Whether a response is an HLS or DASH manifest. Pure. */
export function isStreamManifest(contentType: string, url: string): boolean {
  if (/^\s*(application\/(vnd\.apple\.mpegurl|x-mpegurl|dash\+xml)|audio\/(x-)?mpegurl)\b/i.test(contentType)) return true;
  try {
    return /\.(m3u8|mpd)$/i.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

/** Which parser a manifest needs, from its type, name or first bytes. Pure. */
export function manifestKind(contentType: string, url: string, text: string): "hls" | "dash" {
  if (/dash\+xml/i.test(contentType)) return "dash";
  if (/mpegurl/i.test(contentType)) return "hls";
  if (text.trimStart().startsWith("#EXTM3U")) return "hls";
  try {
    if (/\.mpd$/i.test(new URL(url).pathname)) return "dash";
  } catch {
    // not a URL: decided by the text
  }
  return text.trimStart().startsWith("<") ? "dash" : "hls";
}
