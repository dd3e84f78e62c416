import { z } from "zod";
import { describeReason } from "../bot/views/error-view.ts";
import type { AppError, ErrorReason } from "../errors.ts";
import { FINISHED_STATUSES, type Item, OPEN_STATUSES, PRIORITIES, type PriorityName } from "../items/item.ts";

/**
 * What the web API shows of the engine's data, as zod schemas (they shape every answer and make
 * the OpenAPI file) and the functions that map the engine's types onto them. An item is shown
 * as its chat may see it: no ETag, no request ids, nothing of another chat.
 */

export const STATUSES = [...OPEN_STATUSES, ...FINISHED_STATUSES] as const;
export const PRIORITY_NAMES = Object.keys(PRIORITIES) as PriorityName[];

/** A failure, as the engine keeps it (`code`, `reason` as data) and as the chat words it (`message`). */
export const FailureSchema = z.object({
  code: z.string(),
  reason: z.object({ kind: z.string() }).loose(),
  message: z.string(),
});

export const OfferSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("files"),
    files: z.array(z.object({ index: z.number().int(), path: z.string(), size: z.number(), selectable: z.boolean() })),
  }),
  z.object({
    kind: z.literal("quality"),
    qualities: z.array(z.object({ id: z.string(), height: z.number().nullable(), sizeBytes: z.number().nullable(), fits: z.boolean() })),
    audio: z.boolean(),
  }),
  z.object({
    kind: z.literal("entries"),
    entries: z.array(z.object({ index: z.number().int(), title: z.string(), url: z.string(), sizeBytes: z.number().nullable() })),
    main: z.string().nullable(),
  }),
]);

export const ItemSchema = z.object({
  id: z.number().int(),
  chatId: z.number().int(),
  status: z.enum(STATUSES),
  title: z.string(),
  url: z.string(),
  kind: z.string().describe("the source that fetches it: direct, torrent, crawler (a page), stream, site (yt-dlp)"),
  sizeBytes: z.number().nullable(),
  bytesDone: z.number(),
  priority: z.union([z.enum(PRIORITY_NAMES as [PriorityName, ...PriorityName[]]), z.number().int()]),
  attempts: z.number().int(),
  audioOnly: z.boolean(),
  /** 1-based place in the whole queue (1: running); null when not in line. */
  position: z.number().int().nullable().optional(),
  nextAttemptAt: z.number().nullable().describe("epoch ms of a retry still ahead"),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
  lastError: FailureSchema.nullable(),
  /** While it waits in `choosing`: what to choose from, what is picked so far, and when the default goes. */
  choosing: z.object({ offer: OfferSchema, picked: z.array(z.number().int()), deadline: z.number().nullable() }).nullable(),
});
export type ApiItem = z.infer<typeof ItemSchema>;

const priorityName = (priority: number): PriorityName | number =>
  PRIORITY_NAMES.find((name) => PRIORITIES[name] === priority) ?? priority;

export function failureOf(code: string | null, reason: ErrorReason): z.infer<typeof FailureSchema> {
  return { code: code ?? "INTERNAL", reason, message: describeReason(reason) };
}

export function errorFailure(error: AppError): z.infer<typeof FailureSchema> {
  return failureOf(error.code, error.reason);
}

/** The item as its chat sees it; `picked`: a torrent's files picked so far (ChoiceControl knows). */
export function itemView(item: Item, extra: { position?: number | null; picked?: number[]; now?: number } = {}): ApiItem {
  const now = extra.now ?? Date.now();
  return {
    id: item.id,
    chatId: item.chatId,
    status: item.status,
    title: item.title,
    url: item.url,
    kind: item.sourceKind,
    sizeBytes: item.sizeBytes,
    bytesDone: item.bytesDone,
    priority: priorityName(item.priority),
    attempts: item.attempts,
    audioOnly: item.wants.audioOnly === true,
    ...(extra.position !== undefined ? { position: extra.position } : {}),
    nextAttemptAt: item.status === "queued" && item.nextAttemptAt > now ? item.nextAttemptAt : null,
    createdAt: item.createdAt,
    startedAt: item.startedAt,
    finishedAt: item.finishedAt,
    lastError: item.lastError ? failureOf(item.errorCode, item.lastError) : null,
    choosing:
      item.status === "choosing" && item.choiceOffer
        ? { offer: item.choiceOffer as z.infer<typeof OfferSchema>, picked: extra.picked ?? [], deadline: item.choiceDeadline }
        : null,
  };
}
