import { Menu, type MenuFlavor } from "@grammyjs/menu";
import { Composer, type Context, GrammyError } from "grammy";
import { type ChatSettingKey, type ChatSettings, SETTING_KEYS, nextChoice } from "../../chats/chat-settings.ts";
import { chatSettings, updateChatSettings } from "../../db/chat-settings-repository.ts";
import type { Db } from "../../db/database.ts";
import type { Logger } from "../../logger.ts";
import {
  SETTINGS_FAILED,
  SETTINGS_OUTDATED,
  type SettingsContext,
  renderSettings,
  settingButtonLabel,
  settingChangedAnswer,
} from "../views/settings-view.ts";

export interface SettingsFeatureDeps {
  db: Db;
  /** The config's values: a chat's settings until it changes them. */
  defaults: ChatSettings;
  /** What the message says about the config around the settings (the upload limit). */
  view: SettingsContext;
  logger: Logger;
  now?: () => number;
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * `/settings`: the chat's settings as a menu of the grammY menu plugin, one button per setting
 * that shows its current choice, a press moving it to the next. Stored per chat (the access
 * feature before it lets only allowed chats in, and a press acts on the chat its message is in,
 * so a chat sees and changes only its own). The buttons carry the menu's name, their place and a
 * hash of their label, nothing held in memory, so a menu sent before a restart still works; one
 * whose label no longer matches (changed meanwhile from another /settings message) is brought up
 * to date and the press is answered so. Every press gets an answer and edits the message in place.
 *
 * Registered before the other features: the menu's middleware renders the menu into the messages
 * that carry it and takes the presses on it.
 */
export function settingsFeature(deps: SettingsFeatureDeps): Composer<Context> {
  const { db, logger } = deps;
  const now = deps.now ?? Date.now;

  // An update reads its chat's settings once, however many labels it renders.
  const loaded = new WeakMap<Context, Promise<ChatSettings>>();
  const settingsOf = (ctx: Context): Promise<ChatSettings> => {
    let settings = loaded.get(ctx);
    if (!settings) {
      const chatId = ctx.chat?.id;
      settings = chatId === undefined ? Promise.reject(new Error("no chat to read settings for")) : chatSettings(db, chatId, deps.defaults);
      loaded.set(ctx, settings);
    }
    return settings;
  };

  const menu: Menu<Context> = new Menu<Context>("settings", {
    // Answered here, with what the press did.
    autoAnswer: false,
    onMenuOutdated: async (ctx) => {
      let answer = SETTINGS_FAILED;
      try {
        await show(ctx, await settingsOf(ctx));
        answer = SETTINGS_OUTDATED;
      } catch (error) {
        logger.warn({ err: errorText(error), chatId: ctx.chat?.id }, "could not show the settings again");
      } finally {
        await answerPress(ctx, answer);
      }
    },
  });
  for (const key of SETTING_KEYS) {
    menu.text(async (ctx) => settingButtonLabel(key, await settingsOf(ctx)), (ctx) => press(ctx, key)).row();
  }

  /** One press: the setting moves to its next choice, stored before anything is shown. */
  async function press(ctx: Context & MenuFlavor, key: ChatSettingKey): Promise<void> {
    let answer = SETTINGS_FAILED;
    try {
      const chatId = ctx.chat!.id;
      const value = nextChoice(key, (await settingsOf(ctx))[key]);
      await updateChatSettings(db, chatId, { [key]: value }, now());
      logger.info({ chatId, setting: key, value }, "chat setting changed");
      loaded.delete(ctx);
      const settings = await settingsOf(ctx);
      answer = settingChangedAnswer(key, settings);
      await show(ctx, settings);
    } catch (error) {
      logger.error({ err: errorText(error), chatId: ctx.chat?.id, setting: key }, "could not change a chat setting");
    } finally {
      await answerPress(ctx, answer);
    }
  }

  /** The pressed message, edited in place to show `settings` (an edit that fails is only logged). */
  async function show(ctx: Context, settings: ChatSettings): Promise<void> {
    await ctx.editMessageText(renderSettings(settings, deps.view), { reply_markup: menu }).catch((error: unknown) => {
      if (error instanceof GrammyError && /not modified/i.test(error.description)) return;
      logger.warn({ err: errorText(error), chatId: ctx.chat?.id }, "could not edit the settings message");
    });
  }

  async function answerPress(ctx: Context, text: string): Promise<void> {
    await ctx.answerCallbackQuery({ text }).catch((error: unknown) => logger.warn({ err: errorText(error) }, "could not answer a settings press"));
  }

  const composer = new Composer<Context>();
  // What the menu's own checks throw (the chat's settings unreadable while a press is checked)
  // still answers the press, so the button stops spinning; downstream features run outside this.
  composer.errorBoundary(async (error) => {
    logger.error({ err: errorText(error.error), chatId: error.ctx.chat?.id }, "settings menu failed");
    if (error.ctx.callbackQuery) await answerPress(error.ctx, SETTINGS_FAILED);
  }, menu);
  composer.command("settings", async (ctx) => {
    await ctx.reply(renderSettings(await settingsOf(ctx), deps.view), { reply_markup: menu });
  });
  return composer;
}
