import pLimit, { type LimitFunction } from "p-limit";
import type { Db } from "../db/database.ts";
import { type NewRequest, type StoredRequest, deleteRequest, insertRequests, listRequests } from "../db/request-repository.ts";
import { type AppError, toAppError } from "../errors.ts";
import type { Item } from "../items/item.ts";
import type { Logger } from "../logger.ts";
import type { IntakeOutcome } from "./intake.ts";

export type { NewRequest, StoredRequest } from "../db/request-repository.ts";

/** What became of one request: intake's answer, or a re-send of an earlier delivery. */
export type RequestOutcome = IntakeOutcome | { status: "redelivered"; item: Item };

/**
 * Turns a stored request into its outcome in two steps. The handler itself does the slow part
 * (a HEAD, fetching a .torrent) and stores nothing; the function it resolves with does the quick
 * part (storing the item), and runs in the order the requests came in, chat by chat.
 */
export type RequestHandler = (request: StoredRequest) => Promise<() => Promise<RequestOutcome>>;

export interface RequestQueueDeps {
  db: Db;
  logger: Logger;
  handle: RequestHandler;
  /** Requests checked at once, all chats together. Default 4. */
  concurrency?: number;
  now?: () => number;
}

export interface Submitted {
  request: StoredRequest;
  /** Settles once the request is checked and stored (or refused); never rejects. */
  outcome: Promise<RequestOutcome>;
}

/**
 * The durable front door of the queue. A request is stored the moment it arrives, before its
 * links are checked, so a crash while a slow server answers a HEAD loses nothing: the next start
 * checks it again. Checks run in parallel (bounded) and outside the chat's turn, so a slow server
 * never holds up the chat's other commands; items are stored in the order they were asked for.
 * An item remembers its request (a unique index), so a request checked twice is stored once.
 */
export class RequestQueue {
  private readonly limit: LimitFunction;
  private readonly tails = new Map<number, Promise<void>>();
  private readonly now: () => number;

  constructor(private readonly deps: RequestQueueDeps) {
    this.limit = pLimit(deps.concurrency ?? 4);
    this.now = deps.now ?? Date.now;
  }

  /**
   * Stores the requests of one message (all of them or, when the database refuses, none: the
   * error is thrown for the caller to answer) and starts checking them.
   */
  async submit(requests: readonly NewRequest[]): Promise<Submitted[]> {
    const stored = await insertRequests(this.deps.db, requests, this.now());
    return stored.map((request) => ({ request, outcome: this.process(request) }));
  }

  /**
   * Checks again what a previous process stored and did not finish (call once at start);
   * `answer` is told each outcome.
   */
  async resume(answer: (request: StoredRequest, outcome: RequestOutcome) => Promise<void> | void): Promise<number> {
    const left = await listRequests(this.deps.db);
    if (left.length) this.deps.logger.info({ requests: left.length }, "checking requests a restart interrupted");
    for (const request of left) {
      void this.process(request).then((outcome) => answer(request, outcome));
    }
    return left.length;
  }

  private process(request: StoredRequest): Promise<RequestOutcome> {
    const log = this.deps.logger.child({ requestId: request.id });
    const checked = this.limit(() => this.deps.handle(request));
    // Its failure is taken below, but only once the chat's earlier requests are stored, which may
    // be after it failed (a refused .torrent document behind a slow link): marked as handled now,
    // or the process would see an unhandled rejection.
    void checked.catch(() => {});
    const previous = this.tails.get(request.chatId) ?? Promise.resolve();
    const outcome = previous
      .then(() => checked)
      .then((store) => store())
      .catch((thrown: unknown): RequestOutcome => {
        const error: AppError = toAppError(thrown);
        log.error({ code: error.code, err: error.message }, "a request failed");
        return { status: "refused", error };
      })
      .then(async (result) => {
        // Done with it, whatever the outcome: a refusal is an answer too.
        await deleteRequest(this.deps.db, request.id).catch((error: unknown) =>
          log.warn({ err: error instanceof Error ? error.message : String(error) }, "could not remove a finished request"),
        );
        return result;
      });
    const tail = outcome.then(() => undefined);
    this.tails.set(request.chatId, tail);
    void tail.then(() => {
      if (this.tails.get(request.chatId) === tail) this.tails.delete(request.chatId);
    });
    return outcome;
  }
}
