import type { Wants } from "../items/item.ts";
/**
 * What each chat chose for itself with /settings (pure). The config file's values of the same
 * names are the defaults: a chat that never changed a setting follows the config, also after the
 * config changes. `db/chat-settings-repository.ts` stores the choices; an item reads its chat's
 * settings when it runs and when it goes up, so a change counts from the next item on.
 */

/**
 * Before downloading, ask the chat to choose: the files of a torrent that holds more than one, the
 * quality of a video that comes in several, the videos of a page that shows several. "always":
 * all three; "torrents": only a torrent's files (a video takes `qualityCap` without asking, a page
 * goes as it would without a question); "never": nothing asks (every file of a torrent that fits,
 * a video by `qualityCap`, a page as without a question).
 */
export const ASK_BEFORE_DOWNLOAD = ["always", "torrents", "never"] as const;
/** The tallest video to take without asking, or only its audio. "best": the best that fits. */
export const QUALITY_CAPS = ["best", "1080p", "720p", "480p", "audio"] as const;
/** "auto": playable videos and audio go up as such (videos play in the chat); "document": all as files. */
export const UPLOAD_AS = ["auto", "document"] as const;
/**
 * A file over the upload limit: "playable": a video or audio file in parts cut with ffmpeg that
 * each play (anything else in byte parts); "bytes": every file in byte parts that join back.
 */
export const SPLIT_STYLES = ["playable", "bytes"] as const;

export type AskBeforeDownload = (typeof ASK_BEFORE_DOWNLOAD)[number];
export type QualityCap = (typeof QUALITY_CAPS)[number];
export type UploadAs = (typeof UPLOAD_AS)[number];
export type SplitStyle = (typeof SPLIT_STYLES)[number];

export interface ChatSettings {
  askBeforeDownload: AskBeforeDownload;
  qualityCap: QualityCap;
  uploadAs: UploadAs;
  splitStyle: SplitStyle;
}

export type ChatSettingKey = keyof ChatSettings;

/** Every setting's choices, in the order a press on its button goes through them. */
export const SETTING_CHOICES: { readonly [K in ChatSettingKey]: readonly ChatSettings[K][] } = {
  askBeforeDownload: ASK_BEFORE_DOWNLOAD,
  qualityCap: QUALITY_CAPS,
  uploadAs: UPLOAD_AS,
  splitStyle: SPLIT_STYLES,
};

export const SETTING_KEYS = Object.keys(SETTING_CHOICES) as ChatSettingKey[];

/** The effective settings of a chat (the engine's parts are handed this, built in `app.ts`). */
export type ChatSettingsOf = (chatId: number) => Promise<ChatSettings>;

/** The defaults out of the config (which has keys of the same names and more). */
export function settingsDefaults(config: ChatSettings): ChatSettings {
  return { askBeforeDownload: config.askBeforeDownload, qualityCap: config.qualityCap, uploadAs: config.uploadAs, splitStyle: config.splitStyle };
}

/** The choice after `current`, wrapping round: what one press on a setting's button makes it. */
export function nextChoice<K extends ChatSettingKey>(key: K, current: ChatSettings[K]): ChatSettings[K] {
  const choices = SETTING_CHOICES[key];
  return choices[(choices.indexOf(current) + 1) % choices.length]!;
}

/** Whether `value` is one of the setting's choices (a stored value from a newer version may not be). */
export function isChoice<K extends ChatSettingKey>(key: K, value: unknown): value is ChatSettings[K] {
  return (SETTING_CHOICES[key] as readonly unknown[]).includes(value);
}

/**
 * Whether to wait for the chat's choice before downloading: `what` is "files" for a torrent of
 * more than one file, "quality" for a video offered in several qualities, "entries" for a page
 * that shows several videos (a gallery, a player's playlist).
 */
export function asksBefore(settings: Pick<ChatSettings, "askBeforeDownload">, what: "files" | "quality" | "entries"): boolean {
  const ask = settings.askBeforeDownload;
  return ask === "always" || (ask === "torrents" && what === "files");
}

/** Every question a chat's settings allow before a download. Pure. */
export function asks(settings: Pick<ChatSettings, "askBeforeDownload">): { files: boolean; quality: boolean; entries: boolean } {
  return { files: asksBefore(settings, "files"), quality: asksBefore(settings, "quality"), entries: asksBefore(settings, "entries") };
}

/**
 * What a quality cap asks of a video taken without asking: only its audio, or its best variant no
 * taller than `maxHeight` pixels (null: no cap, the best that fits).
 */
export function qualityWanted(cap: QualityCap): { audioOnly: true } | { audioOnly: false; maxHeight: number | null } {
  if (cap === "audio") return { audioOnly: true };
  return { audioOnly: false, maxHeight: cap === "best" ? null : Number.parseInt(cap, 10) };
}

/**
 * What a chat's quality cap adds to what a link asks for (as /download, the web API and a
 * subscription take it): only the audio (when ffmpeg can take it out), or a height. Pure.
 */
export function withCap(wants: Wants, cap: QualityCap, audio: boolean): Wants {
  const wanted = qualityWanted(cap);
  if (wanted.audioOnly) return audio ? { ...wants, audioOnly: true } : wants;
  return wanted.maxHeight ? { ...wants, maxHeight: wanted.maxHeight } : wants;
}
