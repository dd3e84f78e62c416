import { createRequire } from "node:module";
import type { CheerioAPI } from "cheerio";
import { withoutInvisibles } from "../storage/paths.ts";
import { type ScriptedPlayer, jsonLdMedia, playerSetupFiles, playerSetups, videoJsSources } from "./page-scripts.ts";
import { FILE_EXTENSIONS, extensionOfUrl, isPlaceholderSrc, resolveUrl } from "./page-urls.ts";

/** cheerio (with parse5) is loaded the first time a page is read: it is a fifth of an idle bot's memory. */
let cheerioModule: typeof import("cheerio") | undefined;
const cheerio = () => (cheerioModule ??= createRequire(import.meta.url)("cheerio") as typeof import("cheerio"));

/**
 * Finding the media on a web page: pure functions from an HTML document and its URL to the files
 * worth downloading. The page is parsed by a real HTML parser (cheerio over parse5); no script
 * runs and no regular expression ever looks at the markup.
 */

/** Where on the page a candidate was found. */
export type CandidateKind = "video" | "audio" | "og:video" | "og:audio" | "enclosure" | "link" | "script" | "json-ld";

export interface MediaCandidate {
  /** Absolute http(s) URL, without its #fragment. */
  url: string;
  kind: CandidateKind;
}

/** One video the page shows: a `<video>`, a player a script sets up (each entry of its playlist), a JSON-LD VideoObject. */
export interface PageEntry {
  /** The address to fetch (among the video's alternatives, the one Telegram plays). */
  url: string;
  kind: "video" | "script" | "json-ld";
  /** What the page calls it (a title attribute, a caption, a playlist entry's title), if anything. */
  title: string | null;
}

export interface PageMedia {
  /** og:title, else <title>, whitespace collapsed; null when the page has neither. */
  title: string | null;
  /** Every candidate, in page order, each URL once (its first appearance wins). */
  candidates: MediaCandidate[];
  /**
   * The page's one clear main media: the single <video>/<audio> element, else og:video, else
   * og:audio. Null when there is none, or when several media elements compete and the page does
   * not name one with og:video.
   */
  main: MediaCandidate | null;
  /**
   * What to queue file by file when there is no main media (or it turns out not to be a file):
   * media elements, enclosures and links to media or archive files, in page order.
   */
  files: string[];
  /**
   * Every video the page shows, in page order, each once (its alternatives, or the same address
   * named by a player and by JSON-LD, are one): more than one makes a gallery to choose from.
   * Not og:video (metadata about one of them) and not links.
   */
  entries: PageEntry[];
  /** A player whose source is set by a script the reader could not read (for the "nothing found" answer). */
  scriptedPlayer: boolean;
}

/** What Telegram plays inline; preferred among a media element's alternatives. */
const PLAYABLE = new Set([".mp4", ".m4v", ".mp3", ".m4a"]);
const PLAYABLE_TYPES = /^(video\/mp4|audio\/mpeg|audio\/mp4)\b/i;

/** og:video types that name a player page or a plugin, not a file. */
const NOT_A_FILE_TYPE = /^(text\/html|application\/x-shockwave-flash)\b/i;

/**
 * Reads a page and lists its media. `html` may be the raw bytes: their encoding is then sniffed
 * (BOM, the transport's `charset`, `<meta charset>`), defaulting to UTF-8.
 *
 * @example
 * findPageMedia('<video src="clip.mp4"></video>', "https://example.com/watch/1").main
 * // → { url: "https://example.com/watch/clip.mp4", kind: "video" }
 */
export function findPageMedia(html: string | Buffer, pageUrl: string, options: { charset?: string } = {}): PageMedia {
  const $ =
    typeof html === "string"
      ? cheerio().load(html)
      : cheerio().loadBuffer(html, {
          encoding: { defaultEncoding: "utf-8", ...(options.charset ? { transportLayerEncodingLabel: options.charset } : {}) },
        });
  const base = baseUrl($, pageUrl);
  const resolve = (href: string | undefined) => resolveUrl(href, base);

  const candidates: MediaCandidate[] = [];
  const seen = new Set<string>();
  const add = (url: string | null, kind: CandidateKind) => {
    if (url === null || seen.has(url)) return;
    seen.add(url);
    candidates.push({ url, kind });
  };

  // Each media element with its alternatives (its own src, then its <source> children).
  const elements: Group[] = [];
  const og: Record<"og:video" | "og:audio", { secure: string[]; urls: string[]; types: string[] }> = {
    "og:video": { secure: [], urls: [], types: [] },
    "og:audio": { secure: [], urls: [], types: [] },
  };
  const ogOrder: Array<"og:video" | "og:audio"> = [];

  // Lazy pages keep the address in a data- attribute, and a placeholder (a data: URI, a blank
  // gif, "#", nothing) in src, until a script swaps them.
  const srcOf = (el: Parameters<typeof $>[0]) => {
    const src = $(el).attr("src");
    if (src !== undefined && !isPlaceholderSrc(src)) return src;
    return LAZY_ATTRIBUTES.map((name) => $(el).attr(name)).find((value) => value?.trim());
  };
  let scriptedPlayer = false;

  // One pass in document order over everything that can name a file.
  $("video, video-js, audio, meta[property], meta[name], link[rel][href], a[href]").each((_, el) => {
    const raw = el.tagName.toLowerCase();
    const tag = raw === "video-js" ? "video" : raw;
    if (tag === "video" || tag === "audio") {
      const alternatives: Array<{ url: string; type: string }> = [];
      const known = new Set<string>();
      // video.js keeps its sources in a JSON attribute.
      const setup = videoJsSources($(el).attr("data-setup"));
      for (const source of setup) {
        const url = resolve(source);
        if (url && !known.has(url)) {
          known.add(url);
          alternatives.push({ url, type: "" });
        }
      }
      const own = resolve(srcOf(el));
      if (own) {
        alternatives.push({ url: own, type: $(el).attr("type") ?? "" });
        known.add(own);
      }
      // Its <source> children (HTML puts them nowhere else). Not find(): cheerio's find() is
      // quadratic in the number of children, and a page may hold a hundred thousand.
      $(el)
        .children("source")
        .each((_, source) => {
          const url = resolve(srcOf(source));
          if (!url || known.has(url)) return;
          known.add(url);
          alternatives.push({ url, type: $(source).attr("type") ?? "" });
        });
      if (alternatives.length === 0) {
        scriptedPlayer = true;
        return;
      }
      const title = tag === "video" ? ($(el).attr("title") ?? $(el).attr("aria-label") ?? $(el).attr("data-title") ?? $(el).closest("figure").children("figcaption").first().text()) : "";
      elements.push({ kind: tag, video: tag === "video", title: cleanText(title), alternatives });
      for (const a of alternatives) add(a.url, tag);
      return;
    }
    if (tag === "meta") {
      const property = ($(el).attr("property") ?? $(el).attr("name") ?? "").trim().toLowerCase();
      // A card's stream is the video itself (its player is a page).
      if (property === "twitter:player:stream") {
        const stream = resolve($(el).attr("content"));
        if (stream) og["og:video"].urls.push(stream);
        if (stream && !ogOrder.includes("og:video")) ogOrder.push("og:video");
        return;
      }
      const match = /^(og:video|og:audio)(?::(url|secure_url|type))?$/.exec(property);
      if (!match) return;
      const key = match[1] as "og:video" | "og:audio";
      const content = $(el).attr("content");
      if (match[2] === "type") {
        og[key].types.push((content ?? "").trim());
        return;
      }
      const url = resolve(content);
      if (!url) return;
      (match[2] === "secure_url" ? og[key].secure : og[key].urls).push(url);
      if (!ogOrder.includes(key)) ogOrder.push(key);
      return;
    }
    if (tag === "link") {
      const rel = ($(el).attr("rel") ?? "").toLowerCase().split(/\s+/);
      if (rel.includes("enclosure")) add(resolve($(el).attr("href")), "enclosure");
      return;
    }
    // <a href>
    const url = resolve($(el).attr("href"));
    if (url && FILE_EXTENSIONS.has(extensionOfUrl(url))) add(url, "link");
  });

  // og: tags are metadata, not page content; they join the list after what the page shows.
  const ogMain: Partial<Record<"og:video" | "og:audio", string>> = {};
  for (const key of ogOrder) {
    const { secure, urls, types } = og[key];
    // The secure URL (https) first: it is the same file, fetched safely.
    const unique = [...new Set([...secure, ...urls])].filter((u) => extensionOfUrl(u) !== ".swf");
    const playerOnly = types.length > 0 && types.every((t) => NOT_A_FILE_TYPE.test(t));
    if (unique.length === 0 || playerOnly) continue;
    ogMain[key] = unique[0];
    add(unique[0]!, key);
  }

  // Players set up in scripts: JSON-LD's contentUrl, JW Player's setup({ file }) and its playlist
  // (one video per entry), a video.js or plain player whose source a script sets. Their script
  // text is data, read as such.
  const scripted: Group[] = [];
  const group = (kind: "script" | "json-ld", video: boolean, title: string | null, urls: ScriptedPlayer["sources"]) => {
    const alternatives = urls.flatMap((s) => {
      const url = resolve(s.url);
      return url ? [{ url, type: s.type }] : [];
    });
    if (alternatives.length > 0) scripted.push({ kind, video, title: cleanText(title), alternatives });
  };
  $("script").each((_, el) => {
    const type = ($(el).attr("type") ?? "").toLowerCase();
    const text = $(el).text();
    if (type === "application/ld+json") {
      for (const m of jsonLdMedia(text)) group("json-ld", m.kind === "video", m.name, [{ url: m.url, type: "" }]);
      return;
    }
    if (!type || type.includes("javascript")) {
      const players = playerSetups(text);
      // A setup the literal reader cannot take (`setup(config)`): the addresses the script names, as one player.
      if (players.length > 0) for (const p of players) group("script", true, p.title, p.sources);
      else group("script", true, null, playerSetupFiles(text).map((url) => ({ url, type: "" })));
      if (/\b(jwplayer|videojs|Hls|loadSource|shaka|dashjs|plyr)\b/.test(text)) scriptedPlayer = true;
    }
  });
  for (const g of scripted) for (const a of g.alternatives) add(a.url, g.kind);

  let main: MediaCandidate | null = null;
  if (elements.length === 0 && scripted.length > 0) {
    main = { url: preferPlayable(scripted[0]!.alternatives), kind: scripted[0]!.kind };
  } else if (elements.length === 1) {
    const el = elements[0]!;
    main = { url: preferPlayable(el.alternatives), kind: el.kind };
  } else if (ogMain["og:video"]) {
    main = { url: ogMain["og:video"], kind: "og:video" };
  } else if (elements.length === 0 && ogMain["og:audio"]) {
    main = { url: ogMain["og:audio"], kind: "og:audio" };
  }

  // Several media elements (or players) are several files; alternatives of one are one file.
  const files: string[] = [];
  const groups = [...elements, ...scripted];
  const elementUrls = new Set(groups.flatMap((e) => e.alternatives.map((a) => a.url)));
  const chosen = new Set(groups.map((e) => preferPlayable(e.alternatives)));
  for (const c of candidates) {
    if (c.kind === "og:video" || c.kind === "og:audio") continue;
    if (elementUrls.has(c.url) && !chosen.has(c.url)) continue;
    // Candidates are already unique: no search of `files` here, which made a listing of 100 000
    // links block the event loop for half a minute.
    files.push(c.url);
  }

  return { title: pageTitle($), candidates, main, files, entries: pageEntries(groups), scriptedPlayer: scriptedPlayer && candidates.length === 0 };
}

/** A media element, or a player a script sets up: one file in its alternatives. */
interface Group {
  kind: "video" | "audio" | "script" | "json-ld";
  /** A video (not an `<audio>`, not an AudioObject). */
  video: boolean;
  title: string | null;
  alternatives: Array<{ url: string; type: string }>;
}

/** Where lazy pages keep a media element's real address while `src` holds a placeholder. */
const LAZY_ATTRIBUTES = ["data-src", "data-url", "data-lazy-src"];

/** The videos among the groups, each once: a group that shares an address with an earlier one is that one (its title kept if it had none). */
function pageEntries(groups: Group[]): PageEntry[] {
  const entries: PageEntry[] = [];
  const byUrl = new Map<string, PageEntry>();
  for (const g of groups) {
    if (!g.video || g.kind === "audio") continue;
    const known = g.alternatives.map((a) => byUrl.get(a.url)).find((e) => e !== undefined);
    if (known) {
      known.title ??= g.title;
      continue;
    }
    const entry: PageEntry = { url: preferPlayable(g.alternatives), kind: g.kind, title: g.title };
    entries.push(entry);
    for (const a of g.alternatives) byUrl.set(a.url, entry);
  }
  return entries;
}

/** Text from the page as a one-line name; null when nothing is left. */
function cleanText(text: string | null | undefined): string | null {
  return withoutInvisibles(text ?? "").replace(/\s+/g, " ").trim() || null;
}

function preferPlayable(alternatives: Array<{ url: string; type: string }>): string {
  const playable = alternatives.find((a) => PLAYABLE_TYPES.test(a.type) || PLAYABLE.has(extensionOfUrl(a.url)));
  return (playable ?? alternatives[0]!).url;
}

/** The document's base URL: the first `<base href>` (itself relative to the page), else the page. */
function baseUrl($: CheerioAPI, pageUrl: string): string {
  const href = $("base[href]").first().attr("href");
  const resolved = resolveUrl(href, pageUrl);
  return resolved ?? pageUrl;
}

function pageTitle($: CheerioAPI): string | null {
  const candidates = [
    $('meta[property="og:title"]').first().attr("content"),
    $("head title").first().text() || $("title").first().text(),
  ];
  const site = $('meta[property="og:site_name"]').first().attr("content");
  for (const c of candidates) {
    const clean = withoutSiteName(withoutInvisibles(c ?? "").replace(/\s+/g, " ").trim(), site);
    if (clean) return clean;
  }
  return null;
}

/**
 * "Episode 4 - Example TV" → "Episode 4" when the page names its site "Example TV": the site's
 * name belongs to the page, not to the file. Pure.
 */
export function withoutSiteName(title: string, site: string | undefined): string {
  const name = withoutInvisibles(site ?? "").replace(/\s+/g, " ").trim();
  if (!name || title.length <= name.length) return title;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const separators = "[-|–—·:•»]";
  const stripped = title
    .replace(new RegExp(`\\s*${separators}\\s*${escaped}$`, "i"), "")
    .replace(new RegExp(`^${escaped}\\s*${separators}\\s*`, "i"), "")
    .trim();
  return stripped || title;
}
