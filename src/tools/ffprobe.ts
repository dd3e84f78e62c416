import { type MediaTools, inputArgs } from "./ffmpeg.ts";
import { runTool } from "./run-tool.ts";

/** ffprobe, wrapped once: what a media file holds, from its JSON output. */

export interface MediaInfo {
  /** Seconds, rounded; 0 when unknown. */
  duration: number;
  video?: { codec: string; width: number; height: number };
  /** `bitRate` in bits per second, when the container says. */
  audio?: { codec: string; bitRate?: number };
  /** A picture stream in an audio file (its cover). */
  cover: boolean;
  title?: string;
  performer?: string;
}

interface ProbeOutput {
  format?: { format_name?: string; duration?: string; tags?: Record<string, string> };
  streams?: Array<{
    codec_type?: string;
    codec_name?: string;
    width?: number;
    height?: number;
    bit_rate?: string;
    disposition?: { attached_pic?: number };
    tags?: Record<string, string>;
  }>;
}

/** What a media file holds, from `ffprobe -print_format json`; undefined when ffprobe cannot read it. */
export async function probeMedia(tools: MediaTools, file: string, signal?: AbortSignal): Promise<MediaInfo | undefined> {
  let out: ProbeOutput;
  try {
    // inputArgs: a playlist or description posing as a media file opens nothing else.
    const json = await runTool(tools.ffprobe, ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", ...inputArgs(file)], {
      ...(signal ? { signal } : {}),
      timeoutMs: 30_000,
      maxOutputBytes: 1024 * 1024,
      processes: tools.processes,
    });
    out = JSON.parse(json) as ProbeOutput;
  } catch (error) {
    if (signal?.aborted) throw error;
    return undefined;
  }
  return readProbe(out);
}

/** The parts of ffprobe's JSON the bot uses. Pure. */
export function readProbe(out: ProbeOutput): MediaInfo {
  const streams = out.streams ?? [];
  const picture = (s: (typeof streams)[number]) => s.disposition?.attached_pic === 1;
  const video = streams.find((s) => s.codec_type === "video" && !picture(s));
  const audio = streams.find((s) => s.codec_type === "audio");
  const lower = (t: Record<string, string> | undefined) => Object.fromEntries(Object.entries(t ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  // Ogg keeps its tags (Vorbis comments) on the stream; elsewhere a stream's "title" names the
  // track ("English", "Stereo"), not the work.
  const ogg = out.format?.format_name === "ogg";
  const tags = { ...(ogg ? lower(audio?.tags) : {}), ...lower(out.format?.tags) };
  const duration = Math.round(Number(out.format?.duration ?? 0)) || 0;
  const bitRate = Number(audio?.bit_rate);
  return {
    duration,
    ...(video ? { video: { codec: video.codec_name ?? "", width: video.width ?? 0, height: video.height ?? 0 } } : {}),
    ...(audio ? { audio: { codec: audio.codec_name ?? "", ...(bitRate > 0 ? { bitRate } : {}) } } : {}),
    cover: streams.some(picture),
    ...(tags.title ? { title: tags.title } : {}),
    ...(tags.artist ? { performer: tags.artist } : {}),
  };
}
