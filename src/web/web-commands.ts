import { Composer, type Context } from "grammy";
import type { Logger } from "../logger.ts";
import type { ApiTokens } from "./api-tokens.ts";
import { chatStartParam } from "./auth.ts";

export interface WebCommandsDeps {
  tokens: ApiTokens;
  /** Whether the server runs (web.port is set). */
  serving: boolean;
  /** Where people reach it (web.publicUrl), if set. */
  publicUrl?: string;
  logger: Logger;
}

const OFF = "The web API is off: the bot's config has no <code>web.port</code>.";

/**
 * `/apitoken` makes a token bound to the chat it is sent in (shown this once: only its hash is
 * kept), `/apitoken revoke` ends every token of the chat. A token acts as its chat: it sees and
 * changes only that chat's downloads, as its commands do. `/app` opens the Mini App. Registered
 * after the allow-list.
 */
export function webCommandsFeature(deps: WebCommandsDeps): Composer<Context> {
  const composer = new Composer<Context>();
  composer.command("apitoken", async (ctx) => {
    const arg = ctx.match.trim().toLowerCase();
    if (arg === "revoke") {
      const ended = await deps.tokens.revoke(ctx.chat.id);
      await ctx.reply(ended ? `Ended ${ended === 1 ? "this chat's API token" : `all ${ended} API tokens of this chat`}.` : "This chat has no API token.");
      return;
    }
    if (arg !== "") {
      await ctx.reply("Send <code>/apitoken</code> for a new token, or <code>/apitoken revoke</code> to end this chat's tokens.");
      return;
    }
    if (!deps.serving) {
      await ctx.reply(OFF);
      return;
    }
    const token = await deps.tokens.create(ctx.chat.id, ctx.from?.id ?? null);
    deps.logger.info({ chatId: ctx.chat.id, userId: ctx.from?.id }, "API token made");
    const where = deps.publicUrl ? ` at <code>${deps.publicUrl}/api/</code> (described in <code>${deps.publicUrl}/api/openapi.json</code>)` : "";
    await ctx.reply(
      [
        "🔑 A new API token for this chat. It is shown only this once; the bot keeps only a hash of it.",
        `<code>${token}</code>`,
        `Send it as <code>Authorization: Bearer …</code>${where}. It acts as this chat: it sees and changes only this chat's downloads. <code>/apitoken revoke</code> ends this chat's tokens.`,
      ].join("\n\n"),
    );
  });
  // The Mini App: a web_app button opens it in a private chat; groups take Telegram's link to the
  // bot's main Mini App (set up with BotFather), which names the group for the page.
  composer.command("app", async (ctx) => {
    if (!deps.serving || !deps.publicUrl) {
      await ctx.reply(`The Mini App is off: the bot's config needs <code>web.port</code> and <code>web.publicUrl</code> (the HTTPS address of the server).`);
      return;
    }
    const button =
      ctx.chat.type === "private"
        ? { text: "📋 Open the queue", web_app: { url: `${deps.publicUrl}/app/` } }
        : { text: "📋 Open the queue", url: `https://t.me/${ctx.me.username}?startapp=${chatStartParam(ctx.chat.id)}` };
    await ctx.reply("The queue of this chat, live: what downloads, what waits, what came.", { reply_markup: { inline_keyboard: [[button]] } });
  });
  return composer;
}
