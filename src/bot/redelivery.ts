import type { Api } from "grammy";
import type { Db } from "../db/database.ts";
import { findDelivered, findOpenByUrl } from "../db/item-repository.ts";
import type { IntakeRequest } from "../intake/intake.ts";
import type { Redeliverer } from "../intake/request-handler.ts";
import type { Logger } from "../logger.ts";
import { replyTo } from "./create-bot.ts";
import { captionField, fileCaption } from "./views/caption-view.ts";

export interface RedeliveryDeps {
  db: Db;
  api: Api;
  logger: Logger;
}

/**
 * A URL already delivered in the chat is sent again from Telegram's own copies (by file_id, which
 * has no size limit and costs no download). Not when the URL is open in the chat again (the
 * duplicate rule answers that), nor when Telegram no longer accepts the stored file_id (then it
 * is downloaded after all).
 */
export function createRedeliverer(deps: RedeliveryDeps): Redeliverer {
  const find = async (request: IntakeRequest) =>
    (await findOpenByUrl(deps.db, request.chatId, request.url, request.wants ?? {}))
      ? undefined
      : findDelivered(deps.db, request.chatId, request.url, request.wants ?? {});
  return {
    delivered: async (request) => (await find(request)) !== undefined,
    async resend(request) {
      const delivery = await find(request);
      if (!delivery) return undefined;
      const reply = replyTo(request.requestMessageId);
      try {
        for (const file of delivery.files) {
          // Worded as the upload worded it: a part says which it is and how to join them.
          const options = { ...reply, ...captionField(fileCaption(file)) };
          if (file.kind === "video") await deps.api.sendVideo(request.chatId, file.fileId, { ...options, supports_streaming: true });
          else if (file.kind === "audio") await deps.api.sendAudio(request.chatId, file.fileId, options);
          else await deps.api.sendDocument(request.chatId, file.fileId, options);
        }
        deps.logger.info({ itemId: delivery.item.id, files: delivery.files.length }, "re-sent an earlier delivery by file_id");
        return delivery.item;
      } catch (error) {
        deps.logger.warn(
          { itemId: delivery.item.id, err: error instanceof Error ? error.message : String(error) },
          "could not re-send by file_id; downloading again",
        );
        return undefined;
      }
    },
  };
}
