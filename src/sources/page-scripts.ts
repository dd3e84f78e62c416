import { FILE_EXTENSIONS, STREAM_EXTENSIONS, extensionOfUrl, resolveUrl } from "./page-urls.ts";

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

/** The `contentUrl` of every VideoObject and AudioObject in a JSON-LD block (nested, @graph, arrays). Pure. */
export function jsonLdMedia(text: string): string[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return [];
  }
  const out: string[] = [];
  const visit = (node: unknown, depth: number) => {
    if (depth > 8 || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach((n) => visit(n, depth + 1));
    const record = node as Record<string, unknown>;
    const types = ([] as unknown[]).concat(record["@type"] ?? []);
    if (types.some((t) => t === "VideoObject" || t === "AudioObject") && typeof record.contentUrl === "string") out.push(record.contentUrl);
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
