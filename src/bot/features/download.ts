import { Composer, type Context } from "grammy";
import type { Message } from "grammy/types";
import type { Acknowledger } from "../chat-reporter.ts";
import type { IntakeDeps, IntakeRequest } from "../../intake/intake.ts";
import { enqueueUrl } from "../../intake/intake.ts";
import { parseUrlList } from "../../intake/url-input.ts";
import type { Item } from "../../items/item.ts";
import { replyTo } from "../create-bot.ts";
import { downloadAgainKeyboard } from "../keyboards.ts";
import { type ReplyOutcome, describeOutcome, itemIds, joinReply } from "../views/intake-view.ts";

export interface DownloadFeatureDeps {
  intake: IntakeDeps;
  /** Routes magnet links (and later other kinds) elsewhere; returns null when not handled. */
  routeSpecial?: (ctx: Context, url: string) => Promise<string | null>;
  /**
   * Sends an earlier delivery of the URL in this chat again (from Telegram's file_ids) instead of
   * downloading it; resolves with that item, or undefined to go ahead with the download.
   * Skipped for `/download!`.
   */
  redeliver?: (request: IntakeRequest) => Promise<Item | undefined>;
  /**
   * Told of each reply, with the items it is about; `transient` when it holds only
   * acknowledgements (nothing refused), so it may be deleted after a while.
   */
  acks?: Acknowledger;
}

export const DOWNLOAD_USAGE =
  "Send <code>/download https://example.com/file.zip</code> — one or more http(s) links, separated by spaces or new lines.";

/** `/download! <url>`: a fresh download even of a URL delivered before (not a command to grammY: "!"). */
export const FRESH_DOWNLOAD = /^\/download!(?:@(\w+))?(?:\s+([\s\S]*))?$/;

export function downloadFeature(deps: DownloadFeatureDeps): Composer<Context> {
  const composer = new Composer<Context>();
  // Before the command: Telegram marks "/download" in "/download! url" as the command.
  composer.hears(FRESH_DOWNLOAD, async (ctx, next) => {
    const target = ctx.match[1];
    if (target && target.toLowerCase() !== ctx.me.username.toLowerCase()) return next();
    await handleDownload(ctx, ctx.match[2] ?? "", true);
  });
  composer.command("download", (ctx) => handleDownload(ctx, ctx.match, false));

  async function handleDownload(ctx: Context & { chat: NonNullable<Context["chat"]>; msg: Message }, text: string, fresh: boolean) {
    const parsed = parseUrlList(text, { allowMagnet: deps.routeSpecial !== undefined });
    if (parsed.urls.length === 0) {
      // One line each, so that a message full of junk is cut by lines, not dropped as one block.
      const why = parsed.problems.length ? parsed.problems : ["No link given."];
      await ctx.reply(joinReply([...why, DOWNLOAD_USAGE]));
      return;
    }
    const chatId = ctx.chat.id;
    const userId = ctx.from?.id ?? null;
    const requestMessageId = ctx.msg.message_id;
    const lines = [...parsed.problems];
    const outcomes: ReplyOutcome[] = [];
    let transient = parsed.problems.length === 0;
    for (const url of parsed.urls) {
      const special = await deps.routeSpecial?.(ctx, url);
      if (special) {
        lines.push(special);
        transient = false;
        continue;
      }
      const request: IntakeRequest = { chatId, userId, requestMessageId, url };
      const earlier = fresh ? undefined : await deps.redeliver?.(request);
      const outcome: ReplyOutcome = earlier ? { status: "redelivered", item: earlier } : await enqueueUrl(deps.intake, request);
      if (outcome.status === "refused") transient = false;
      outcomes.push(outcome);
      lines.push(describeOutcome(outcome, url));
    }
    // A lone duplicate answers on the existing item's progress message: that is where it is.
    const only = outcomes.length === 1 && lines.length === 1 ? outcomes[0] : undefined;
    const pointAt = only?.status === "duplicate" && only.item.progressMessageId !== null ? only.item.progressMessageId : requestMessageId;
    const again = outcomes.flatMap((o) => (o.status === "redelivered" ? [o.item.id] : []));
    const reply = await ctx.reply(joinReply(lines), {
      ...replyTo(pointAt),
      ...(again.length ? { reply_markup: downloadAgainKeyboard(again) } : {}),
    });
    void deps.acks?.acknowledged(reply, itemIds(outcomes), transient);
  }
  return composer;
}
