import type { StoredRequest } from "../db/request-repository.ts";
import type { Item } from "../items/item.ts";
import { type IntakeDeps, type IntakeRequest, checkUrl, enqueueUrl, storeChecked } from "./intake.ts";
import type { RequestHandler } from "./request-queue.ts";
import { type TorrentInput, enqueueTorrent } from "./torrent-intake.ts";

/** Sends again, from Telegram's copies, what was delivered before in the chat. */
export interface Redeliverer {
  /** Whether the chat has a delivery of the URL that can be re-sent (a database look-up only). */
  delivered(request: IntakeRequest): Promise<boolean>;
  /** Re-sends it; undefined when that did not work out after all (then it is downloaded). */
  resend(request: IntakeRequest): Promise<Item | undefined>;
}

export interface RequestHandlerDeps {
  intake: IntakeDeps;
  redeliver?: Redeliverer;
  /** The bytes of a file someone sent to the chat (a .torrent), by its file_id. */
  fetchDocument: (fileId: string) => Promise<Uint8Array>;
}

/**
 * What a link, a /torrent argument or a sent .torrent becomes: magnets and .torrent links go to
 * the torrent intake, a link delivered before is re-sent (unless asked for a fresh copy with
 * /download!), any other link is pre-checked and queued. The slow part runs first; the returned
 * step stores.
 */
export function createRequestHandler(deps: RequestHandlerDeps): RequestHandler {
  return async (request: StoredRequest) => {
    const base = {
      chatId: request.chatId,
      userId: request.userId,
      requestMessageId: request.requestMessageId,
      requestId: request.id,
      // A torrent's files are media too: the wish goes with whatever the link becomes.
      wants: request.wants,
    };
    if (request.kind === "document") {
      const bytes = await deps.fetchDocument(request.text);
      return () => enqueueTorrent(deps.intake, base, { kind: "file", bytes });
    }
    const torrent = torrentInputOf(request.text, request.kind === "torrent");
    if (torrent) return () => enqueueTorrent(deps.intake, base, torrent);
    const link: IntakeRequest = { ...base, url: request.text };
    const redeliver = deps.redeliver;
    if (!request.fresh && redeliver && (await redeliver.delivered(link))) {
      return async () => {
        const item = await redeliver.resend(link);
        return item ? { status: "redelivered", item } : enqueueUrl(deps.intake, link);
      };
    }
    const checked = await checkUrl(deps.intake, link);
    return () => storeChecked(deps.intake, link, checked);
  };
}

/**
 * A magnet, or a link to a .torrent: any http(s) link when `asTorrent` (a /torrent argument),
 * else only one whose path ends in .torrent (a .torrent served under another name is found by
 * the direct handler, which hands it over).
 */
export function torrentInputOf(text: string, asTorrent: boolean): TorrentInput | null {
  if (/^magnet:\?/i.test(text)) return { kind: "magnet", uri: text };
  if (!/^https?:\/\//i.test(text)) return null;
  if (asTorrent) return { kind: "url", url: text };
  try {
    return /\.torrent$/i.test(new URL(text).pathname) ? { kind: "url", url: text } : null;
  } catch {
    return null;
  }
}
