import { type ChatSettingKey, type ChatSettings, SETTING_KEYS } from "../../chats/chat-settings.ts";
import { escapeHtml, formatBytes } from "../../text/format.ts";

/** The /settings message and its buttons' labels. HTML. Pure. */

type Wording = { readonly [K in ChatSettingKey]: Readonly<Record<ChatSettings[K], string>> };

const SETTING_NAMES: Readonly<Record<ChatSettingKey, string>> = {
  askBeforeDownload: "❓ Ask before downloading",
  qualityCap: "📺 Quality",
  uploadAs: "🎬 Videos and audio",
  splitStyle: "✂️ Big files",
};

/** Each choice in a word or two: on its button and in the message. */
const CHOICE_NAMES: Wording = {
  askBeforeDownload: { always: "always", torrents: "only torrents", never: "never" },
  qualityCap: { best: "best", "1080p": "up to 1080p", "720p": "up to 720p", "480p": "up to 480p", audio: "audio only" },
  uploadAs: { auto: "playable", document: "as files" },
  splitStyle: { playable: "playable parts", bytes: "byte parts" },
};

const NOT_ASKED = "when the bot does not ask";

/** What each choice does, in the message. */
const MEANINGS: Wording = {
  askBeforeDownload: {
    always: "the bot asks which files of a torrent that holds several, which quality of a video offered in several, and which videos of a page that shows several.",
    torrents: "the bot asks which files of a torrent that holds several; a video comes in the quality below.",
    never: "a torrent comes with every file that fits, a video in the quality below.",
  },
  qualityCap: {
    best: `the best that fits, ${NOT_ASKED}.`,
    "1080p": `the best up to 1080p, ${NOT_ASKED}.`,
    "720p": `the best up to 720p, ${NOT_ASKED}.`,
    "480p": `the best up to 480p, ${NOT_ASKED}.`,
    audio: `only the audio of a video, ${NOT_ASKED}.`,
  },
  uploadAs: {
    auto: "they go up as videos and audio that play in the chat.",
    document: "they go up as files, as they came.",
  },
  splitStyle: {
    playable: "a video or audio file over the upload limit goes in parts that each play; other files in byte parts.",
    bytes: "a file over the upload limit goes in byte parts that join back into the original.",
  },
};

export interface SettingsContext {
  /** The largest single upload (`uploadLimitBytes`). */
  uploadLimitBytes: number;
  /** `splitLargeFiles`: off, a file over the limit is refused whatever the split style. */
  splitLargeFiles: boolean;
}

/** What `wording` says of the setting's current choice. */
function say(wording: Wording, key: ChatSettingKey, settings: ChatSettings): string {
  return (wording[key] as Readonly<Record<string, string>>)[settings[key]]!;
}

/** A setting's button: its name and its current choice. */
export function settingButtonLabel(key: ChatSettingKey, settings: ChatSettings): string {
  return `${SETTING_NAMES[key]}: ${say(CHOICE_NAMES, key, settings)}`;
}

/** The answer to a press that changed a setting (a toast). */
export function settingChangedAnswer(key: ChatSettingKey, settings: ChatSettings): string {
  return `${settingButtonLabel(key, settings)}, from the next download on`;
}

/** The /settings message: every setting with its current choice and what it does. */
export function renderSettings(settings: ChatSettings, context: SettingsContext): string {
  const line = (key: ChatSettingKey) => {
    let meaning = say(MEANINGS, key, settings);
    if (key === "splitStyle") {
      meaning = meaning.replace("the upload limit", `the upload limit (${formatBytes(context.uploadLimitBytes)})`);
      if (!context.splitLargeFiles) meaning += " Splitting is off in the bot's config, though: such files are refused.";
    }
    return `${SETTING_NAMES[key]}: <b>${escapeHtml(say(CHOICE_NAMES, key, settings))}</b> — ${escapeHtml(meaning)}`;
  };
  return [
    "⚙️ <b>Settings of this chat</b>",
    "Each press on a button moves it to its next choice; the next download uses it.",
    "",
    ...SETTING_KEYS.map(line),
  ].join("\n");
}

/** A press on a menu the settings changed under (another /settings message, say): it now shows them. */
export const SETTINGS_OUTDATED = "The settings had changed: here they are now; press again";
export const SETTINGS_FAILED = "Could not change the setting; try again";
