import { accessSync, constants, promises as fs, readFileSync } from "node:fs";
import { isIP } from "node:net";
import path from "node:path";
import { DownloadError } from "../errors.ts";
import { type MediaTools, SAFE_FORMATS } from "./ffmpeg.ts";
import { runTool, toolErrorDetail } from "./run-tool.ts";
import type { ToolProcesses } from "./tool-processes.ts";

/**
 * yt-dlp, wrapped once: where it is, its argument lists (a format Telegram plays, within the size
 * limit, through the bot's guarded proxy), its JSON and progress lines, its failures, the ffmpeg
 * wrappers it is given, and which sites it has an extractor of its own for. What the bot does
 * with a download (the item's folder, its limits, a playlist's entries) is the site source's.
 */

/** The little of `--flat-playlist --dump-single-json` the bot reads. */
export interface YtDlpInfo {
  _type?: string;
  is_live?: boolean | null;
  live_status?: string | null;
  url?: string;
  webpage_url?: string;
  entries?: (YtDlpInfo | null)[] | null;
  formats?: YtDlpFormat[];
  duration?: number | null;
}

/** The little of a format the bot reads. */
export interface YtDlpFormat {
  url?: string;
  format_id?: string;
  height?: number | null;
  vcodec?: string | null;
  acodec?: string | null;
  filesize?: number | null;
  filesize_approx?: number | null;
  /** Kbit/s. */
  tbr?: number | null;
}

/**
 * The heights a video is offered in, best first, each with the size its biggest format comes to
 * (what yt-dlp says, else its bit rate times the duration; a video-only format gets the best
 * audio's size added). Pure.
 */
export function siteQualities(info: YtDlpInfo, maxBytes: number): Array<{ id: string; height: number; sizeBytes: number | null; fits: boolean }> {
  const sizeOf = (f: YtDlpFormat) => f.filesize ?? f.filesize_approx ?? (f.tbr && info.duration ? Math.round((f.tbr * 1000 * info.duration) / 8) : null);
  const formats = info.formats ?? [];
  const audioSizes = formats.filter((f) => f.vcodec === "none" && f.acodec !== "none").map(sizeOf).filter((n): n is number => n !== null);
  const audio = audioSizes.length ? Math.max(...audioSizes) : 0;
  const byHeight = new Map<number, number | null>();
  for (const f of formats) {
    if (!f.height || f.vcodec === "none") continue;
    const own = sizeOf(f);
    const size = own === null ? null : own + (f.acodec === "none" ? audio : 0);
    const known = byHeight.get(f.height);
    if (!byHeight.has(f.height) || (size !== null && (known === null || known === undefined || size > known))) byHeight.set(f.height, size);
  }
  return [...byHeight.entries()]
    .sort(([a], [b]) => b - a)
    .map(([height, sizeBytes]) => ({ id: String(height), height, sizeBytes, fits: sizeBytes === null || sizeBytes <= maxBytes }));
}

/** FORMAT with every alternative held to `maxHeight` pixels. Pure. */
export function formatUpTo(maxHeight: number): string {
  return FORMAT.split("/")
    .map((alternative) => alternative.replace(/^(bv\*|b)/, `$1[height<=${maxHeight}]`))
    .join("/");
}

/** One entry of a playlist, to be queued on its own (a `FoundItem` of the sources). */
export interface PlaylistEntry {
  url: string;
  /** A file, not a page (media found in a page by the generic extractor). */
  expectFile?: boolean;
}

/**
 * Where each entry of a playlist can be fetched on its own: a site's entry page (yt-dlp reads it
 * again as an item of its own) or, for media found in a page (the generic extractor), the best
 * format's own URL, a file. Entries without either are left out. Pure.
 */
export function playlistEntries(info: YtDlpInfo, pageUrl: string): PlaylistEntry[] {
  const found: PlaylistEntry[] = [];
  const seen = new Set<string>();
  for (const entry of info.entries ?? []) {
    if (!entry) continue;
    const listed = entry._type === "url" || entry._type === "url_transparent";
    const file = listed ? undefined : entry.formats?.filter((f) => f.url).at(-1)?.url;
    const page = listed ? entry.url : entry.webpage_url !== pageUrl ? entry.webpage_url : undefined;
    const next: PlaylistEntry | undefined = file && /^https?:/i.test(file) ? { url: file, expectFile: true } : page && /^https?:/i.test(page) ? { url: page } : undefined;
    if (next && !seen.has(next.url)) {
      seen.add(next.url);
      found.push(next);
    }
  }
  return found;
}

/** The configured yt-dlp, else the one on PATH; undefined when there is none. */
export function findYtDlp(configured: string | undefined): string | undefined {
  const candidates = configured ? [configured] : (process.env.PATH ?? "").split(path.delimiter).filter(Boolean).map((d) => path.join(d, "yt-dlp"));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** What `yt-dlp --version` prints (its release date, 2025.12.08), or undefined when it cannot tell. */
export async function ytDlpVersion(bin: string, options: { signal?: AbortSignal; processes?: ToolProcesses } = {}): Promise<string | undefined> {
  try {
    const out = await runTool(bin, ["--version"], { timeoutMs: 15_000, maxOutputBytes: 1024, ...options });
    return out.trim().split("\n")[0] || undefined;
  } catch {
    return undefined;
  }
}

/**
 * How many days old a yt-dlp release is, from its version (a date, `2023.03.04` or a nightly's
 * `2025.12.08.123456`); undefined for a version that is not a date. Pure.
 */
export function releaseAgeDays(version: string, now: number): number | undefined {
  const match = /^(\d{4})\.(\d{1,2})\.(\d{1,2})/.exec(version);
  if (!match) return undefined;
  const released = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  return Math.floor((now - released) / 86_400_000);
}

/** MP4 with H.264/AAC first, as Telegram plays it (as ytdlbot does), then whatever merges into MP4. */
const FORMAT = "b[ext=mp4][vcodec^=avc1]/bv*[ext=mp4][vcodec^=avc1]+ba[ext=m4a]/b[ext=mp4]/bv*+ba/b";

/**
 * Only the audio (`/audio`): the best audio-only format, an M4A first (AAC, which goes up as it
 * is) then an MP3; a page that offers none (a plain video file found by the generic extractor)
 * gives its best single file, whose audio the bot then takes out itself.
 */
const AUDIO_FORMAT = "ba[ext=m4a]/ba[ext=mp3]/ba/b";

const LIVE = new Set(["is_live", "is_upcoming", "post_live"]);

/** What every run gets: no config of the user's, the guarded proxy, the wrapped ffmpeg, cookies. Pure. */
export function commonArgs(options: { proxyUrl: string; ffmpegLocation: string; cookiesFile?: string | undefined }): string[] {
  return [
    "--no-config", "--proxy", options.proxyUrl,
    "--ffmpeg-location", options.ffmpegLocation,
    ...(options.cookiesFile ? ["--cookies", options.cookiesFile] : []),
  ];
}

/**
 * The metadata of a page, entries only listed (not read); a video link that also names a
 * playlist (YouTube's watch?v=…&list=…) is that one video. Pure.
 */
export function metadataArgs(common: string[], url: string): string[] {
  return [...common, "--no-playlist", "--flat-playlist", "--dump-single-json", url];
}

/**
 * The download of a page's video (or, `audioOnly`, only its audio, with the page's title and
 * uploader written into the file as its tags) into `dir`, at most `maxBytes` when the size is
 * known up front. Pure.
 */
export function downloadArgs(common: string[], options: { url: string; dir: string; maxBytes: number; audioOnly?: boolean; maxHeight?: number }): string[] {
  return [
    ...common, "--no-playlist", "--no-part", "--no-mtime", "--newline", "--progress",
    // yt-dlp's own downloader for HLS and DASH too: ffmpeg never gets a URL. A live stream
    // would still go to ffmpeg, so it is left out.
    "--downloader", "native", "--match-filter", "!is_live",
    ...(options.audioOnly ? ["-f", AUDIO_FORMAT, "--embed-metadata"] : ["-f", options.maxHeight ? formatUpTo(options.maxHeight) : FORMAT, "--merge-output-format", "mp4"]),
    "--max-filesize", String(options.maxBytes),
    "--progress-template", "download:PROGRESS %(progress)j",
    // Downloads done, merging and fixing up next (yt-dlp's own lines are off with --print).
    "--print", "post_process:POSTPROCESS %(ext)s",
    "--print", "after_move:FILE %(filepath)s",
    "-o", path.join(options.dir, "%(title).80B.%(ext)s"),
    options.url,
  ];
}

/** The live status of a page that shows a live (or not yet started) stream; undefined for a recording. Pure. */
export function liveStatus(info: YtDlpInfo): string | undefined {
  return info.is_live || LIVE.has(info.live_status ?? "") ? (info.live_status ?? "is_live") : undefined;
}

/** A line of a download run (see `downloadArgs`), or undefined for one that says nothing the bot reads. */
export type DownloadLine =
  | { kind: "file"; path: string }
  | { kind: "post-process" }
  | { kind: "progress"; bytesDone: number; totalBytes: number | null };

/** Reads one line of a download run. Pure. */
export function readDownloadLine(line: string): DownloadLine | undefined {
  if (line.startsWith("FILE ")) return { kind: "file", path: line.slice(5).trim() };
  if (line.startsWith("POSTPROCESS ")) return { kind: "post-process" };
  if (!line.startsWith("PROGRESS ")) return undefined;
  try {
    const p = JSON.parse(line.slice(9)) as { downloaded_bytes?: number; total_bytes?: number; total_bytes_estimate?: number };
    return { kind: "progress", bytesDone: p.downloaded_bytes ?? 0, totalBytes: p.total_bytes ?? p.total_bytes_estimate ?? null };
  } catch {
    return undefined; // a progress line that is not JSON (an odd title, say): the next one will do
  }
}

/**
 * What a failed run means: null when yt-dlp does not know the page (its "Unsupported URL"), else
 * NO_MEDIA, retried unless no format of the video can be had at all.
 */
export function ytDlpFailure(error: unknown): DownloadError | null {
  const detail = toolErrorDetail(error);
  if (/unsupported url/i.test(detail)) return null;
  return new DownloadError("NO_MEDIA", `yt-dlp: ${detail}`, {
    cause: error,
    retryable: !/no video formats|requested format is not available/i.test(detail),
    reason: { kind: "ytDlpFailed" },
  });
}

/** Quotes a value for a POSIX shell script. Pure. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/**
 * Writes the ffmpeg and ffprobe yt-dlp runs: scripts that run the real tools with
 * `-protocol_whitelist file` and the media-container `-format_whitelist` before every input
 * (yt-dlp's own `--postprocessor-args` cannot reach its ffprobe runs). Returns their folder.
 */
export async function writeToolWrappers(workDir: string, tools: MediaTools): Promise<string> {
  const dir = path.join(workDir, "yt-dlp-ffmpeg");
  await fs.mkdir(dir, { recursive: true });
  const guard = `-protocol_whitelist file -format_whitelist ${shellQuote(SAFE_FORMATS.join(","))}`;
  const head = "#!/bin/sh\n# Written by the bot (src/tools/yt-dlp.ts): yt-dlp's ffmpeg runs open local media files only.\n";
  const ffmpeg = `${head}for arg do\n  shift\n  [ "$arg" = "-i" ] && set -- "$@" ${guard}\n  set -- "$@" "$arg"\ndone\nexec ${shellQuote(tools.ffmpeg)} "$@"\n`;
  const ffprobe = `${head}exec ${shellQuote(tools.ffprobe)} ${guard} "$@"\n`;
  for (const [name, text] of [["ffmpeg", ffmpeg], ["ffprobe", ffprobe]] as const) {
    // Written aside and renamed: a yt-dlp running meanwhile never runs half a script.
    await fs.writeFile(path.join(dir, `${name}.tmp`), text, { mode: 0o755 });
    await fs.rename(path.join(dir, `${name}.tmp`), path.join(dir, name));
  }
  return dir;
}

/** Asks yt-dlp's own extractor list which site extractor (not its generic one) takes a URL. */
const WHICH_EXTRACTOR = `
import sys
sys.path.insert(0, sys.argv[2])
from yt_dlp.extractor import gen_extractor_classes
url = sys.argv[1]
print(next((e.IE_NAME for e in gen_extractor_classes() if e.IE_NAME != "generic" and e.suitable(url)), ""))
`;

/**
 * Whether yt-dlp has an extractor of its own for a URL's site (YouTube, a broadcaster...): such a
 * link goes to yt-dlp first. Answered offline by yt-dlp's Python module, once per host; a bare IP
 * address is never a site of its own, and a yt-dlp that is not a Python script cannot be asked.
 */
export function createSiteMatcher(bin: string, processes?: ToolProcesses): (url: string, signal?: AbortSignal) => Promise<boolean> {
  const known = new Map<string, boolean>();
  let python: string | undefined;
  try {
    const first = readFileSync(bin, { encoding: "latin1" }).slice(0, 200).split("\n")[0] ?? "";
    const match = /^#!\s*(\S*python[\d.]*)\s*$/.exec(first) ?? /^#!\s*\S*env\s+(python[\d.]*)\s*$/.exec(first);
    python = match?.[1];
  } catch {
    python = undefined;
  }
  return async (url, signal) => {
    let host: string;
    try {
      host = new URL(url).hostname.replace(/^\[|\]$/g, "");
    } catch {
      return false;
    }
    if (!python || isIP(host)) return false;
    const cached = known.get(host);
    if (cached !== undefined) return cached;
    let name = "";
    try {
      name = (await runTool(python, ["-c", WHICH_EXTRACTOR, url, bin], { ...(signal ? { signal } : {}), timeoutMs: 20_000, processes })).trim();
    } catch {
      name = "";
    }
    known.set(host, name !== "");
    return name !== "";
  };
}
