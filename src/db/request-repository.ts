import type { Wants } from "../items/item.ts";
import type { Db } from "./database.ts";
import { wantsFromColumn, wantsToColumn } from "./wants-column.ts";

/** What a person asked for, stored the moment it arrives (see `intake/request-queue.ts`). */
export interface StoredRequest {
  id: number;
  chatId: number;
  userId: number | null;
  requestMessageId: number | null;
  kind: "link" | "torrent" | "document";
  text: string;
  fresh: boolean;
  /** What was asked of the link's media (`/audio`: only its audio), handed on to its item. */
  wants: Wants;
  createdAt: number;
}

export type NewRequest = Omit<StoredRequest, "id" | "createdAt" | "wants"> & { wants?: Wants };

/** Stores every part of one message at once: all of it is kept, or none (the caller says so). */
export async function insertRequests(db: Db, requests: readonly NewRequest[], now: number): Promise<StoredRequest[]> {
  if (requests.length === 0) return [];
  const rows = await db
    .insertInto("intake_requests")
    .values(
      requests.map((r) => ({
        chat_id: r.chatId,
        user_id: r.userId,
        request_message_id: r.requestMessageId,
        kind: r.kind,
        text: r.text,
        fresh: r.fresh ? 1 : 0,
        wants: wantsToColumn(r.wants ?? {}),
        created_at: now,
      })),
    )
    .returning("id")
    .execute();
  return requests.map((r, i) => ({ ...r, wants: r.wants ?? {}, id: rows[i]!.id, createdAt: now }));
}

/** The requests a previous process stored and did not finish, oldest first. */
export async function listRequests(db: Db): Promise<StoredRequest[]> {
  const rows = await db.selectFrom("intake_requests").selectAll().orderBy("id").execute();
  return rows.map((r) => ({
    id: r.id,
    chatId: r.chat_id,
    userId: r.user_id,
    requestMessageId: r.request_message_id,
    kind: r.kind,
    text: r.text,
    fresh: r.fresh === 1,
    wants: wantsFromColumn(r.wants),
    createdAt: r.created_at,
  }));
}

export async function deleteRequest(db: Db, id: number): Promise<void> {
  await db.deleteFrom("intake_requests").where("id", "=", id).execute();
}
