import { FILE_EXTENSIONS, IMAGE_EXTENSIONS, STREAM_EXTENSIONS, extensionOfUrl, resolveUrl } from "./page-urls.ts";
import { readLiteral } from "./script-literal.ts";

/** Media a page's scripts and data blocks name, read as text and never run. Pure. */

/** The sources of a video.js `data-setup` attribute (JSON). */
export function videoJsSources(setup: string | undefined): string[] {
  if (!setup) return [];
  try {
    const parsed = JSON.parse(setup) as { sources?: Array<{ src?: unknown }> };
    return (parsed.sources ?? []).flatMap((s) => (typeof s.src === "string" ? [s.src] : []));
  } catch {
    return [];
  }
}

/** A VideoObject or AudioObject of a JSON-LD block: its `contentUrl` and its `name`. */
export interface JsonLdMedia {
  url: string;
  kind: "video" | "audio";
  name: string | null;
}

/** Every VideoObject and AudioObject with a `contentUrl` in a JSON-LD block (nested, @graph, arrays). Pure. */
export function jsonLdMedia(text: string): JsonLdMedia[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return [];
  }
  const out: JsonLdMedia[] = [];
  const visit = (node: unknown, depth: number) => {
    if (depth > 8 || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach((n) => visit(n, depth + 1));
    const record = node as Record<string, unknown>;
    const types = ([] as unknown[]).concat(record["@type"] ?? []);
    const kind = types.includes("VideoObject") ? "video" : types.includes("AudioObject") ? "audio" : null;
    if (kind && typeof record.contentUrl === "string") out.push({ url: record.contentUrl, kind, name: typeof record.name === "string" ? record.name : null });
    for (const value of Object.values(record)) visit(value, depth + 1);
  };
  visit(data, 0);
  return out;
}

/**
 * Media files a player's setup names in a script: JW Player's `file: "..."` (also inside
 * `sources: [...]`), and `src: "..."` of a source list, when the value ends in a media extension.
 * The script is read as text, never run. Pure.
 */
export function playerSetupFiles(script: string): string[] {
  const out: string[] = [];
  // `file: "..."` / `src: "..."` of a setup, and hls.js / dash.js `loadSource("...")` / `attachSource("...")`.
  const patterns = [
    /\b(?:file|src)\s*:\s*(["'])((?:(?!\1)[^\\\n]|\\.){1,2048})\1/g,
    /\b(?:loadSource|attachSource)\s*\(\s*(["'])((?:(?!\1)[^\\\n]|\\.){1,2048})\1/g,
  ];
  for (const pattern of patterns) {
    for (const m of script.matchAll(pattern)) {
      const value = m[2]!.replace(/\\\//g, "/");
      const absolute = resolveUrl(value, "https://x.invalid/");
      const ext = absolute ? extensionOfUrl(absolute) : "";
      if (FILE_EXTENSIONS.has(ext) || STREAM_EXTENSIONS.has(ext)) out.push(value);
    }
  }
  return out;
}

/** One video a player's setup names: its alternatives (the same video in several forms) and its title. */
export interface ScriptedPlayer {
  title: string | null;
  sources: Array<{ url: string; type: string }>;
}

/** At most this many `.setup(` calls of one script are read (each is read from where it starts). */
const MAX_SETUPS = 20;

/** What a player's `file` never is: a poster, captions, a script or a page of its own. */
const NOT_MEDIA: ReadonlySet<string> = new Set([...IMAGE_EXTENSIONS, ".vtt", ".srt", ".js", ".css", ".json", ".xml", ".rss", ".html", ".htm", ".txt"]);

/**
 * The videos a player's `setup({...})` names, read as the literal it is (never run): JW Player's
 * `file` and `sources: [{ file }]`, and its `playlist: [{ file }, { sources: [{ file, type }] }]`,
 * one video per playlist entry, with its `title`; `src` in a source list too. A `file` needs no
 * extension here (JW Player says its type in `type`), but a poster or captions file is not taken.
 * Empty when the script calls no setup with a literal (`setup(config)`). Pure.
 *
 * @example
 * playerSetups(`jwplayer("p").setup({ playlist: [{ title: "One", sources: [{ file: "/a.m3u8" }, { file: "/a.mp4" }] }] })`)
 * // → [{ title: "One", sources: [{ url: "/a.m3u8", type: "" }, { url: "/a.mp4", type: "" }] }]
 */
export function playerSetups(script: string): ScriptedPlayer[] {
  const out: ScriptedPlayer[] = [];
  let read = 0;
  for (const call of script.matchAll(/\.setup\s*\(/g)) {
    if (++read > MAX_SETUPS) break;
    const setup = readLiteral(script, call.index + call[0].length)?.value;
    if (!isRecord(setup)) continue;
    const entries = Array.isArray(setup.playlist) ? setup.playlist : [setup];
    for (const entry of entries) {
      const player = playerOf(entry);
      if (player) out.push(player);
    }
  }
  return out;
}

function playerOf(entry: unknown): ScriptedPlayer | null {
  if (!isRecord(entry)) return null;
  const sources: ScriptedPlayer["sources"] = [];
  const take = (file: unknown, type: unknown) => {
    if (typeof file !== "string" || !file.trim()) return;
    const absolute = resolveUrl(file, "https://x.invalid/");
    if (!absolute || NOT_MEDIA.has(extensionOfUrl(absolute))) return;
    // JW Player names a type by its extension ("mp4", "hls"); a MIME type passes as it is.
    const kind = typeof type === "string" ? type.trim().toLowerCase() : "";
    sources.push({ url: file, type: kind && !kind.includes("/") ? `video/${kind}` : kind });
  };
  take(entry.file, entry.type);
  if (Array.isArray(entry.sources)) for (const s of entry.sources) if (isRecord(s)) take(s.file ?? s.src, s.type);
  if (sources.length === 0) return null;
  return { title: typeof entry.title === "string" && entry.title.trim() ? entry.title.trim() : null, sources };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
