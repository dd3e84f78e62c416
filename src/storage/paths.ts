import path from "node:path";

/**
 * Names come from other people (URLs, Content-Disposition, torrent metadata). These helpers make
 * sure such a name is one harmless path segment, so nothing can escape the data directory.
 */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/**
 * Zero-width, bidirectional and other invisible format characters: in a name they hide what it
 * says ("txt.exe" shown as "exe.txt" with U+202E) and nobody typed them. Pure.
 */
export function withoutInvisibles(text: string): string {
  return text.replace(/[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g, "");
}

export function safeFileName(name: string, fallback = "download"): string {
  let clean = withoutInvisibles(name)
    .normalize("NFC")
    .replace(/[\u0000-\u001f\u007f]/g, "")
    .replace(/[\/\\:*?"<>|]/g, "_")
    .trim()
    .replace(/^\.+/, "")
    .replace(/[. ]+$/, "");
  if (WINDOWS_RESERVED.test(clean)) clean = `_${clean}`;
  // Keep names within common file system limits (255 bytes), preserving the extension.
  while (Buffer.byteLength(clean) > 200) {
    const ext = path.extname(clean).slice(0, 16);
    const stem = clean.slice(0, clean.length - ext.length);
    clean = Array.from(stem).slice(0, -8).join("") + ext;
  }
  return clean.length > 0 ? clean : fallback;
}

/** Joins untrusted path segments below `base`, each made safe; the result is always inside. */
export function safeJoin(base: string, segments: string[]): string {
  const parts = segments.filter((s) => s !== "" && s !== "." && s !== "..").map((s) => safeFileName(s, "_"));
  const full = path.resolve(base, ...parts);
  const root = path.resolve(base);
  if (full !== root && !full.startsWith(root + path.sep)) throw new Error(`path escapes ${root}`);
  return full;
}

/** Where an item's files live while it is in progress. */
export function itemDir(dataDir: string, itemId: number): string {
  return path.resolve(dataDir, "downloads", String(itemId));
}
