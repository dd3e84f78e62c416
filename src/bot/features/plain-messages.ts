import { Composer, type Context } from "grammy";
import { parseUrlList } from "../../intake/url-input.ts";
import { escapeHtml, truncate } from "../../text/format.ts";
import { replyTo } from "../create-bot.ts";
import type { RequestAnswers } from "../request-answers.ts";

export const PLAIN_TEXT_HINT = "Send me a link (or several, one per line) and I send the file here; /help lists everything else.";

export interface PlainMessagesDeps {
  answers: RequestAnswers;
}

/**
 * Messages without a command, registered after the command features. In a private chat, a message
 * that is only links is a /download of them, and anything else gets a one-line hint. In a group
 * the bot reads only what is addressed to it (a reply to one of its messages, or a mention), so
 * people talking about links are not downloaded.
 */
export function plainMessagesFeature(deps: PlainMessagesDeps): Composer<Context> {
  const composer = new Composer<Context>();
  composer.on("message:text", async (ctx) => {
    const me = ctx.me.username;
    const mention = new RegExp(`(^|\\s)@${me}\\b`, "gi");
    const addressed =
      ctx.chat.type === "private" || ctx.msg.reply_to_message?.from?.id === ctx.me.id || mention.test(ctx.msg.text);
    if (!addressed) return;
    const text = ctx.msg.text.replace(mention, " ").trim();
    const reply = (line: string) => ctx.reply(line, replyTo(ctx.msg.message_id));
    const command = /^\/(\S+)/.exec(text);
    if (command) {
      // A command no feature took: not one of ours (or for another bot: then not addressed).
      await reply(`I don't know /${escapeHtml(truncate(command[1]!.replace(/@.*$/, ""), 40))}. ${PLAIN_TEXT_HINT}`);
      return;
    }
    const parsed = parseUrlList(text, { allowMagnet: true });
    if (parsed.urls.length === 0 || parsed.problems.length > 0) {
      await reply(PLAIN_TEXT_HINT);
      return;
    }
    await deps.answers.ask(
      parsed.urls.map((url) => ({ request: { kind: "link", text: url, fresh: false }, label: url })),
      { chatId: ctx.chat.id, userId: ctx.from?.id ?? null, requestMessageId: ctx.msg.message_id },
    );
  });
  return composer;
}
