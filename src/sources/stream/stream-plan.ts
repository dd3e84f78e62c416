import { promises as fs } from "node:fs";
import path from "node:path";
import type { Got } from "got";
import { DownloadError } from "../../errors.ts";
import { manifestKind } from "../content-kind.ts";
import type { SourceContext } from "../source.ts";
import { parseMpdIsolated } from "./mpd-isolated.ts";
import { fetchSmall } from "./small-body.ts";
import type { ChoiceOffer, OfferedQuality } from "../../items/choice.ts";
import { type ParsedManifest, type ParsedMpd, type StreamTrack, type StreamVariant, MAX_PIECES, checkDash, parseHls, pickVariant, readDash, variantBytes } from "./stream-manifest.ts";

/**
 * A stream's plan: its playlists read, the variant chosen and every piece to fetch, kept in the
 * stream's folder so a retry or a restart goes on from there.
 */

/** A playlist or manifest bigger than this is not one (a playlist of a 10-hour show is ~1 MB). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** What a started stream download keeps in its folder, so a retry or restart fetches only what it lacks. */
export interface StreamPlan {
  version: 1;
  tracks: StreamTrack[];
  durationSeconds: number;
  /** The variant's bandwidth times the duration, when both are known. */
  estimatedBytes: number | null;
}

/** Even the smallest variant does not fit `limit`. */
export function streamTooLarge(limit: number): DownloadError {
  return new DownloadError("TOO_LARGE", `the stream is over ${limit} bytes`, {
    reason: { kind: "streamTooLarge", limit },
  });
}

export async function loadPlan(work: string): Promise<StreamPlan | undefined> {
  try {
    const plan = JSON.parse(await fs.readFile(path.join(work, "plan.json"), "utf8")) as StreamPlan;
    return plan.version === 1 && Array.isArray(plan.tracks) ? plan : undefined;
  } catch {
    return undefined;
  }
}

export async function savePlan(work: string, plan: StreamPlan): Promise<void> {
  await writeAtomically(path.join(work, "plan.json"), JSON.stringify(plan));
}

/** Written whole or not at all, and on the disk before it is renamed into place. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.new`;
  const handle = await fs.open(temp, "w");
  try {
    await handle.writeFile(text);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
}

/**
 * The qualities a stream offers, best first, one per height (the best of each), with the size
 * each would come to. Pure.
 */
function qualitiesOf(variants: readonly StreamVariant[], durationSeconds: number, maxBytes: number): OfferedQuality[] {
  const seen = new Set<string>();
  const offered: OfferedQuality[] = [];
  for (const [index, v] of [...variants.entries()].sort(([, a], [, b]) => b.bandwidth - a.bandwidth)) {
    const key = v.height === null ? `bw${v.bandwidth}` : `h${v.height}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const sizeBytes = variantBytes(v, durationSeconds);
    offered.push({ id: String(index), height: v.height, sizeBytes, fits: sizeBytes === null || sizeBytes <= maxBytes });
  }
  return offered;
}

/** The variant a choice names: a quality by its id, else (best, default) the best that fits. */
function chosenVariant(variants: readonly StreamVariant[], durationSeconds: number, ctx: SourceContext): StreamVariant {
  const choice = ctx.choice;
  // Only its sound: the lightest variant carries it as well as any.
  if (ctx.item.wants.audioOnly) return [...variants].sort((a, b) => a.bandwidth - b.bandwidth)[0]!;
  if (choice?.kind === "quality") {
    const picked = variants[Number(choice.id)];
    if (picked) return picked;
  }
  // The chat's quality cap: the best that fits among those no taller (all of them if none is).
  const cap = ctx.item.wants.maxHeight;
  const low = cap ? variants.filter((v) => v.height !== null && v.height <= cap) : [];
  return pickVariant(low.length ? low : variants, durationSeconds, ctx.maxBytes);
}

/**
 * Reads the manifest, picks the variant and reads its playlists: the pieces to fetch. A stream
 * in several qualities asks first when the item may ask (the offer comes back instead of a plan).
 */
export async function makePlan(http: Got, url: string, ctx: SourceContext): Promise<StreamPlan | ChoiceOffer> {
  const top = await readManifest(http, url, ctx.signal);
  if (top.kind === "track") return planOf([top.track], top.durationSeconds, null);
  if (top.variants.length === 0) throw new DownloadError("NO_MEDIA", "stream: no variants", { reason: { kind: "streamNoVariants" } });
  // HLS master playlists give no duration: the first variant's playlist does.
  let duration = top.durationSeconds;
  const first = top.variants[0]!;
  const firstRead = !first.track && first.playlistUrl ? await readTrack(http, first.playlistUrl, ctx.signal) : undefined;
  if (duration <= 0 && firstRead) duration = firstRead.durationSeconds;
  const qualities = qualitiesOf(top.variants, duration, ctx.maxBytes);
  if (ctx.ask?.quality && qualities.filter((q) => q.fits).length > 1) return { kind: "quality", qualities, audio: true };
  const variant = chosenVariant(top.variants, duration, ctx);
  ctx.logger.info({ bandwidth: variant.bandwidth, height: variant.height, variants: top.variants.length }, "stream variant chosen");
  const audio = variant.audio && (variant.audio.track ?? (await readTrack(http, variant.audio.playlistUrl!, ctx.signal)).track);
  // Only the audio asked for (/audio), and it has a rendition of its own: no video is fetched.
  if (audio && ctx.item.wants.audioOnly) return planOf([audio], duration, null);
  const video = variant.track ?? (variant === first && firstRead ? firstRead.track : (await readTrack(http, variant.playlistUrl!, ctx.signal)).track);
  const tracks = audio ? [video, audio] : [video];
  const estimate = variantBytes(variant, duration);
  return planOf(tracks, duration, estimate);
}

function planOf(tracks: StreamTrack[], durationSeconds: number, estimatedBytes: number | null): StreamPlan {
  const pieces = tracks.reduce((n, t) => n + t.pieces.length, 0);
  if (pieces > MAX_PIECES) {
    throw new DownloadError("NO_MEDIA", `stream: ${pieces} segments`, { reason: { kind: "streamTooManySegments", count: pieces, max: MAX_PIECES } });
  }
  return { version: 1, tracks, durationSeconds, estimatedBytes };
}

async function readTrack(http: Got, url: string, signal: AbortSignal): Promise<{ track: StreamTrack; durationSeconds: number }> {
  const parsed = await readManifest(http, url, signal);
  if (parsed.kind !== "track") {
    throw new DownloadError("NO_MEDIA", "stream: a variant playlist that lists variants", { reason: { kind: "streamBadLayout" } });
  }
  return parsed;
}

async function readManifest(http: Got, url: string, signal: AbortSignal): Promise<ParsedManifest> {
  const { text, contentType, finalUrl } = await fetchText(http, url, signal);
  // Relative URIs resolve against where the playlist was finally read from (after redirects).
  if (manifestKind(contentType, finalUrl, text) === "hls") return parseHls(text, finalUrl);
  checkDash(text, finalUrl);
  return readDash((await parseMpdIsolated(text, finalUrl)) as ParsedMpd, finalUrl);
}


/** A playlist's text, at most MAX_MANIFEST_BYTES, within MANIFEST_TIMEOUT_MS. */
async function fetchText(http: Got, url: string, signal: AbortSignal): Promise<{ text: string; contentType: string; finalUrl: string }> {
  const got = await fetchSmall(http, url, signal, MAX_MANIFEST_BYTES, { tooLarge: { kind: "streamPlaylistTooLarge" }, timedOut: { kind: "streamPlaylistTimedOut" } });
  return { text: got.body.toString("utf8"), contentType: got.contentType, finalUrl: got.finalUrl };
}
