import { Composer, type Context } from "grammy";
import type { IntakeDeps, IntakeOutcome } from "../../queue/intake.ts";
import { enqueueUrl } from "../../queue/intake.ts";
import { escapeHtml, formatBytes, MESSAGE_LIMIT, truncate } from "../../text/format.ts";
import type { TaskRunner } from "../task-runner.ts";
import { parseUrlList } from "../url-input.ts";

export interface DownloadFeatureDeps {
  intake: IntakeDeps;
  tasks: TaskRunner;
  /** Routes magnet links (and later other kinds) elsewhere; returns null when not handled. */
  routeSpecial?: (ctx: Context, url: string) => Promise<string | null>;
}

export const DOWNLOAD_USAGE =
  "Send <code>/download https://example.com/file.zip</code> — one or more http(s) links, separated by spaces or new lines.";

/** One line about what happened to one URL, for the reply. */
export function describeOutcome(outcome: IntakeOutcome, url: string): string {
  const short = escapeHtml(truncate(url, 80));
  if (outcome.status === "refused") return `✗ ${short}: ${escapeHtml(outcome.error.userMessage)}`;
  const item = outcome.item;
  const name = `<b>${escapeHtml(truncate(item.title, 120))}</b>`;
  const size = item.sizeBytes !== null ? ` (${formatBytes(item.sizeBytes)})` : "";
  if (outcome.status === "duplicate") {
    const where = outcome.position !== null ? `position ${outcome.position} in the queue` : item.status;
    return `↺ ${name} is already in the queue as #${item.id} (${where}).`;
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

export function downloadFeature(deps: DownloadFeatureDeps): Composer<Context> {
  const composer = new Composer<Context>();
  composer.command("download", async (ctx) => {
    const parsed = parseUrlList(ctx.match, { allowMagnet: deps.routeSpecial !== undefined });
    if (parsed.urls.length === 0) {
      const why = parsed.problems.length ? parsed.problems.join("\n") + "\n" : "No link given.\n";
      await ctx.reply(joinReply([why + DOWNLOAD_USAGE]), { parse_mode: "HTML", link_preview_options: { is_disabled: true } });
      return;
    }
    const chatId = ctx.chat.id;
    const userId = ctx.from?.id ?? null;
    const requestMessageId = ctx.msg.message_id;
    deps.tasks.run("download command", async () => {
      const lines = [...parsed.problems];
      for (const url of parsed.urls) {
        const special = await deps.routeSpecial?.(ctx, url);
        if (special) {
          lines.push(special);
          continue;
        }
        const outcome = await enqueueUrl(deps.intake, { chatId, userId, requestMessageId, url });
        lines.push(describeOutcome(outcome, url));
      }
      await ctx.reply(joinReply(lines), {
        parse_mode: "HTML",
        link_preview_options: { is_disabled: true },
        reply_parameters: { message_id: requestMessageId, allow_sending_without_reply: true },
      });
    });
  });
  return composer;
}
