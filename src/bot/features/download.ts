import { Composer, type Context } from "grammy";
import type { Message } from "grammy/types";
import type { Item } from "../../db/item-repository.ts";
import type { IntakeDeps, IntakeOutcome, IntakeRequest } from "../../queue/intake.ts";
import { enqueueUrl } from "../../queue/intake.ts";
import { escapeHtml, formatBytes, MESSAGE_LIMIT, truncate } from "../../text/format.ts";
import { downloadAgainKeyboard } from "../keyboards.ts";
import { parseUrlList } from "../url-input.ts";

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
   * The reply went out. `transient` when it holds only acknowledgements (nothing refused), so it
   * may be deleted after a while; `outcomes` say which items it is about.
   */
  onReply?: (reply: Message, outcomes: ReplyOutcome[], transient: boolean) => void;
}

/** What happened to one URL of a /download: intake's answer, or a re-send of an earlier delivery. */
export type ReplyOutcome = IntakeOutcome | { status: "redelivered"; item: Item };

export const DOWNLOAD_USAGE =
  "Send <code>/download https://example.com/file.zip</code> — one or more http(s) links, separated by spaces or new lines.";

/** One line about what happened to one URL, for the reply. */
export function describeOutcome(outcome: ReplyOutcome, url: string): string {
  const short = escapeHtml(truncate(url, 80));
  if (outcome.status === "refused") return `✗ ${short}: ${escapeHtml(outcome.error.userMessage)}`;
  const item = outcome.item;
  const name = `<b>${escapeHtml(truncate(item.title, 120))}</b>`;
  const size = item.sizeBytes !== null ? ` (${formatBytes(item.sizeBytes)})` : "";
  if (outcome.status === "duplicate") {
    const where = outcome.position !== null ? `position ${outcome.position} in the queue` : item.status;
    return `↺ ${name} is already in the queue as #${item.id} (${where}).`;
  }
  if (outcome.status === "redelivered") {
    return `↺ ${name} was delivered here before (#${item.id}): sent again from Telegram's copy.`;
  }
  return `✓ Queued #${item.id} ${name}${size}: position ${outcome.position} in the queue.`;
}

export function joinReply(lines: string[]): string {
  let text = "";
  for (const line of lines) {
    const next = text ? `${text}\n${line}` : line;
    if (next.length > MESSAGE_LIMIT - 40) return `${text}\n… and ${lines.length - text.split("\n").length} more.`;
    text = next;
  }
  return text;
}

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
      await ctx.reply(joinReply([...why, DOWNLOAD_USAGE]), { parse_mode: "HTML", link_preview_options: { is_disabled: true } });
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
      parse_mode: "HTML",
      link_preview_options: { is_disabled: true },
      reply_parameters: { message_id: pointAt, allow_sending_without_reply: true },
      ...(again.length ? { reply_markup: downloadAgainKeyboard(again) } : {}),
    });
    deps.onReply?.(reply, outcomes, transient);
  }
  return composer;
}
