import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Db } from "../db/database.ts";
import { listChatItemsPage } from "../db/item-page-repository.ts";
import { listOpenItems } from "../db/item-query-repository.ts";
import { parseUrlList } from "../intake/url-input.ts";
import type { Item, PriorityName } from "../items/item.ts";
import type { ChoiceControl } from "../queue/choice-control.ts";
import type { QueueControl } from "../queue/queue-control.ts";
import { ItemSchema, PRIORITY_NAMES, STATUSES, errorFailure, itemView } from "./api-view.ts";
import { ChoiceBodySchema, choiceFor } from "./choice-input.ts";
import { ErrorSchema, HttpFailure, notFound } from "./http-errors.ts";
import { ACTIONS, type Action, type Done, hasPlace, outcomeAnswer, positionOf, runAction } from "./item-actions.ts";
import type { WebIntake } from "./web-intake.ts";

export interface ItemRoutesDeps {
  db: Db;
  control: QueueControl;
  choices: ChoiceControl;
  intake: WebIntake;
}

const Priority = z.enum(PRIORITY_NAMES as [PriorityName, ...PriorityName[]]);
const IdParams = z.object({ id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER) });
const DoneSchema = z.object({ ok: z.literal(true), did: z.string(), item: ItemSchema });
const errors = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema };

/** One http(s) or magnet link, as `/download` reads one. */
const LinkSchema = z
  .string()
  .max(8192)
  .refine((text) => {
    const parsed = parseUrlList(text, { allowMagnet: true });
    return parsed.urls.length === 1 && parsed.problems.length === 0;
  }, "expected one http(s) or magnet link");

const ListQuery = z.object({
  status: z.enum(["open", "finished", "all", ...STATUSES]).default("open"),
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(20),
});

const BatchBody = z
  .object({
    ids: z.array(z.number().int().positive()).min(1).max(100),
    action: z.enum([...ACTIONS, "priority"]),
    priority: Priority.optional(),
  })
  .refine((b) => b.action !== "priority" || b.priority !== undefined, { path: ["priority"], message: 'expected "high", "normal" or "low" with the action "priority"' });

const BatchResult = z.union([
  z.object({ id: z.number(), ok: z.literal(true), did: z.string(), item: ItemSchema }),
  z.object({ id: z.number(), ok: z.literal(false), error: ErrorSchema.shape.error }),
]);

/** Throws a failure, hands back anything else (route handlers answer failures through the error handler). */
function orThrow<T>(answer: T | HttpFailure): T {
  if (answer instanceof HttpFailure) throw answer;
  return answer;
}

/**
 * The items of the caller's chat: listed, read, added, and acted on through QueueControl and
 * ChoiceControl, exactly as the chat's commands and buttons act. An item of another chat is
 * answered as one that does not exist (404): never a 403, which would say that it does.
 */
export function itemRoutes(deps: ItemRoutesDeps) {
  const { control, choices } = deps;
  const view = async (item: Item) => itemView(item, { position: await positionOf(control, item), picked: choices.picked(item) });

  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get("/items", { schema: { summary: "The chat's items: open ones in queue order, or by status, newest first", querystring: ListQuery, response: { 200: z.object({ items: z.array(ItemSchema), page: z.number(), pageSize: z.number(), total: z.number() }), ...errors } } }, async (req) => {
      const { status, page, pageSize } = req.query;
      const chatId = req.caller.chatId;
      const offset = (page - 1) * pageSize;
      if (status === "open") {
        const { entries } = await control.queue();
        const mine = entries.filter((e) => e.item.chatId === chatId).map((e) => itemView(e.item, { position: e.position }));
        const choosing = (await listOpenItems(deps.db, chatId)).filter((i) => i.status === "choosing").map((i) => itemView(i, { position: null, picked: choices.picked(i) }));
        const all = [...mine, ...choosing];
        return { items: all.slice(offset, offset + pageSize), page, pageSize, total: all.length };
      }
      if (status === "finished") {
        const history = await control.history(chatId, page - 1, pageSize);
        // history() shows its last page for one past the end; a listing shows nothing there.
        const items = history.page === page - 1 ? history.items.map((i) => itemView(i)) : [];
        return { items, page, pageSize, total: history.total };
      }
      const statuses = status === "all" ? STATUSES : [status];
      const found = await listChatItemsPage(deps.db, chatId, statuses, { offset, limit: pageSize });
      // The places in line of the page's items from one read of the queue, not one query each.
      const inLine = found.items.some(hasPlace) ? new Map((await control.queue()).entries.map((e) => [e.item.id, e.position])) : undefined;
      const items = found.items.map((item) => itemView(item, { position: hasPlace(item) ? (inLine?.get(item.id) ?? null) : null, picked: choices.picked(item) }));
      return { items, page, pageSize, total: found.total };
    });

    r.get("/items/:id", { schema: { summary: "One item of the chat", params: IdParams, response: { 200: ItemSchema, ...errors } } }, async (req) => {
      const item = await control.find(req.params.id, req.caller.chatId);
      if (!item) throw notFound();
      return view(item);
    });

    r.post(
      "/items",
      {
        schema: {
          summary: "Add a link, with the checks and the answer of /download",
          body: z.object({ url: LinkSchema, priority: Priority.optional(), audio: z.boolean().optional() }),
          response: {
            200: z.object({ status: z.enum(["duplicate", "redelivered"]), item: ItemSchema, position: z.number().nullable().optional() }),
            201: z.object({ status: z.literal("queued"), item: ItemSchema, position: z.number() }),
            422: ErrorSchema,
            ...errors,
          },
        },
      },
      async (req, reply) => {
        const url = parseUrlList(req.body.url, { allowMagnet: true }).urls[0]!;
        const outcome = await deps.intake.add(req.caller, { url, ...(req.body.priority ? { priority: req.body.priority } : {}), ...(req.body.audio ? { audio: true } : {}) });
        switch (outcome.status) {
          case "refused": {
            const failure = errorFailure(outcome.error);
            throw new HttpFailure(422, outcome.error.code, failure.message, { reason: failure.reason });
          }
          case "queued":
            return reply.status(201).send({ status: "queued", item: itemView(outcome.item, { position: outcome.position }), position: outcome.position });
          case "duplicate":
            return reply.status(200).send({ status: "duplicate", item: itemView(outcome.item, { position: outcome.position }), position: outcome.position });
          case "redelivered":
            return reply.status(200).send({ status: "redelivered", item: itemView(outcome.item) });
        }
      },
    );

    r.patch("/items/:id", { schema: { summary: "Change an item's priority", params: IdParams, body: z.object({ priority: Priority }), response: { 200: DoneSchema, ...errors } } }, async (req) =>
      orThrow(outcomeAnswer(await control.prioritise(req.params.id, req.caller.chatId, req.body.priority))),
    );

    r.post("/items/batch", { schema: { summary: "One action on several items, answered per id", body: BatchBody, response: { 200: z.object({ results: z.array(BatchResult) }), ...errors } } }, async (req) => {
      const results: z.infer<typeof BatchResult>[] = [];
      for (const id of [...new Set(req.body.ids)]) {
        const answer = outcomeAnswer(await runAction(control, req.caller.chatId, id, req.body.action, req.body.priority));
        results.push(answer instanceof HttpFailure ? { id, ok: false, error: answer.body().error } : { id, ...answer });
      }
      return { results };
    });

    r.post(
      "/items/:id/choice",
      { schema: { summary: "Choose for an item waiting in 'choosing' (a torrent's files, a quality, a page's videos)", params: IdParams, body: ChoiceBodySchema, response: { 200: z.object({ ok: z.literal(true), item: ItemSchema }), ...errors } } },
      async (req) => {
        const chatId = req.caller.chatId;
        const item = await choices.waiting(req.params.id, chatId);
        if (!item?.choiceOffer) {
          const mine = await control.find(req.params.id, chatId);
          if (!mine) throw notFound();
          throw new HttpFailure(409, "CONFLICT", `#${mine.id} does not wait for a choice (it is ${mine.status})`, { why: "not-choosing" });
        }
        const choice = orThrow(choiceFor(item.choiceOffer, req.body));
        const chosen = await choices.start(item.id, chatId, choice);
        if (!chosen || "nothing" in chosen) throw new HttpFailure(409, "CONFLICT", `#${item.id} was answered meanwhile`, { why: "not-choosing" });
        return { ok: true as const, item: await view(chosen.item) };
      },
    );

    r.post(
      "/items/:id/:action",
      { schema: { summary: "Pause, resume, cancel or retry an item", params: IdParams.extend({ action: z.enum(ACTIONS) }), response: { 200: DoneSchema, ...errors } } },
      async (req): Promise<Done> => orThrow(outcomeAnswer(await runAction(control, req.caller.chatId, req.params.id, req.params.action as Action))),
    );
  };
}
