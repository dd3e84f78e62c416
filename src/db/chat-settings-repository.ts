import { type ChatSettingKey, type ChatSettings, SETTING_KEYS, isChoice } from "../chats/chat-settings.ts";
import type { Db } from "./database.ts";
import type { ChatSettingsTable } from "./schema.ts";

/** Each setting's column in `chat_settings` (migration 015). */
const COLUMNS = {
  askBeforeDownload: "ask_before_download",
  qualityCap: "quality_cap",
  uploadAs: "upload_as",
  splitStyle: "split_style",
} as const satisfies Record<ChatSettingKey, keyof ChatSettingsTable>;

/**
 * What the chat chose itself: only the settings it changed. A stored value this version does not
 * know (written by a newer one) counts as not chosen.
 */
export async function chosenChatSettings(db: Db, chatId: number): Promise<Partial<ChatSettings>> {
  const row = await db.selectFrom("chat_settings").selectAll().where("chat_id", "=", chatId).executeTakeFirst();
  const chosen: Partial<Record<ChatSettingKey, unknown>> = {};
  for (const key of SETTING_KEYS) {
    const value = row?.[COLUMNS[key]];
    if (isChoice(key, value)) chosen[key] = value;
  }
  return chosen as Partial<ChatSettings>;
}

/**
 * The chat's effective settings: what it chose, and `defaults` (the config's values) for every
 * setting it never changed.
 */
export async function chatSettings(db: Db, chatId: number, defaults: ChatSettings): Promise<ChatSettings> {
  return { ...defaults, ...(await chosenChatSettings(db, chatId)) };
}

/**
 * Stores the chat's choice of the settings in `change`; the others stay as they were (chosen or
 * following the defaults). A choice equal to today's default is stored all the same: the chat
 * made it, so a later change of the config does not undo it.
 */
export async function updateChatSettings(db: Db, chatId: number, change: Partial<ChatSettings>, now: number): Promise<void> {
  const columns: Partial<Record<(typeof COLUMNS)[ChatSettingKey], string>> = {};
  for (const key of SETTING_KEYS) {
    const value = change[key];
    if (value === undefined) continue;
    if (!isChoice(key, value)) throw new RangeError(`${key} cannot be ${JSON.stringify(value)}`);
    columns[COLUMNS[key]] = value;
  }
  await db
    .insertInto("chat_settings")
    .values({ chat_id: chatId, ...columns, updated_at: now })
    .onConflict((oc) => oc.column("chat_id").doUpdateSet({ ...columns, updated_at: now }))
    .execute();
}
