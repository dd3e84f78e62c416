import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { QueueControl } from "../queue/queue-control.ts";
import { ItemSchema, STATUSES, itemView } from "./api-view.ts";
import { ErrorSchema, HttpFailure } from "./http-errors.ts";

const errors = { 401: ErrorSchema, 403: ErrorSchema };

const StatusSchema = z.object({
  chatId: z.number(),
  counts: z.partialRecord(z.enum(STATUSES), z.number()),
  queuePaused: z.boolean(),
  /** The chat's running item; another chat's is only said to be running (`activeElsewhere`). */
  active: ItemSchema.nullable(),
  activeElsewhere: z.boolean(),
  /** Whether this chat pauses and resumes the whole queue (`adminChatIds`). */
  admin: z.boolean(),
  freeBytes: z.number().nullable(),
  diskFull: z.boolean(),
  ytDlp: z.boolean().optional(),
  ytDlpVersion: z.string().optional(),
});

/** `/api/status`, `/api/session` and the whole queue's switch, each as the caller's chat. */
export function queueRoutes(deps: { control: QueueControl }) {
  const { control } = deps;
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get("/status", { schema: { summary: "What /status says in the chat", response: { 200: StatusSchema, ...errors } } }, async (req) => {
      const chatId = req.caller.chatId;
      const status = await control.status(chatId);
      return {
        chatId,
        counts: status.counts,
        queuePaused: status.queuePaused,
        active: status.active ? itemView(status.active, { position: 1 }) : null,
        activeElsewhere: status.activeElsewhere,
        admin: status.admin ?? false,
        freeBytes: status.freeBytes,
        diskFull: status.diskFull,
        ...(status.ytDlp !== undefined ? { ytDlp: status.ytDlp } : {}),
        ...(status.ytDlpVersion ? { ytDlpVersion: status.ytDlpVersion } : {}),
      };
    });

    r.get(
      "/session",
      {
        schema: {
          summary: "Who is asking: the chat the request acts as, and every chat the caller may act as (a Mini App user may have several)",
          response: { 200: z.object({ via: z.enum(["token", "miniapp"]), chatId: z.number(), chatIds: z.array(z.number()), name: z.string().optional(), startChatId: z.number().optional(), admin: z.boolean() }), ...errors },
        },
      },
      async (req) => {
        const { via, chatId, chatIds, name, startChatId } = req.caller;
        return { via, chatId, chatIds, ...(name !== undefined ? { name } : {}), ...(startChatId !== undefined ? { startChatId } : {}), admin: control.isAdmin(chatId) };
      },
    );

    const adminOnly = (chatId: number) => {
      if (!control.isAdmin(chatId)) {
        throw new HttpFailure(403, "FORBIDDEN", "only an admin chat (adminChatIds) pauses and resumes the whole queue; pause this chat's items with POST /api/items/batch");
      }
    };
    const Switched = z.object({ queuePaused: z.boolean(), changed: z.boolean() });

    r.post("/queue/pause", { schema: { summary: "Pause the whole queue (admin chats, as /pause there)", response: { 200: Switched, ...errors } } }, async (req) => {
      adminOnly(req.caller.chatId);
      const outcome = await control.pauseFor(req.caller.chatId);
      return { queuePaused: control.queuePaused, changed: outcome.scope === "queue" && outcome.changed };
    });

    r.post("/queue/resume", { schema: { summary: "Resume the whole queue (admin chats, as /resume there)", response: { 200: Switched, ...errors } } }, async (req) => {
      adminOnly(req.caller.chatId);
      const outcome = await control.resumeQueue(req.caller.chatId);
      return { queuePaused: control.queuePaused, changed: outcome.changed };
    });
  };
}
