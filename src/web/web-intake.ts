import { type ChatSettingsOf, withCap } from "../chats/chat-settings.ts";
import type { Acknowledger } from "../bot/chat-reporter.ts";
import type { RequestOutcome, RequestQueue } from "../intake/request-queue.ts";
import type { PriorityName, Wants } from "../items/item.ts";
import type { QueueControl } from "../queue/queue-control.ts";
import type { Caller } from "./auth.ts";

export interface WebIntakeDeps {
  requests: Pick<RequestQueue, "submit">;
  control: Pick<QueueControl, "prioritise" | "position">;
  /** The chat side's record of answers: an item asked for here has no message to become its live one. */
  acks: Pick<Acknowledger, "decline">;
  settingsOf: ChatSettingsOf;
  /** Whether ffmpeg is there to take a video's audio out (as `/audio` needs). */
  audio: boolean;
}

export interface AddRequest {
  url: string;
  priority?: PriorityName;
  /** Only the audio, as `/audio`. */
  audio?: boolean;
}

/**
 * A link added over the web goes through the front door a `/download` in its chat goes through:
 * stored as a request first (nothing is lost if the process dies meanwhile), checked by the
 * same request handler (the guard, the size pre-check, duplicates, a re-send of an earlier
 * delivery), with the chat's quality cap. The outcome is the answer; the chat sees the item when
 * it runs, and the file when it is delivered.
 */
export class WebIntake {
  constructor(private readonly deps: WebIntakeDeps) {}

  async add(caller: Caller, request: AddRequest): Promise<RequestOutcome> {
    const asked: Wants = request.audio && this.deps.audio ? { audioOnly: true } : {};
    // As /download: the chat's quality cap goes with the link.
    const wants = withCap(asked, (await this.deps.settingsOf(caller.chatId)).qualityCap, this.deps.audio);
    const [submitted] = await this.deps.requests.submit([
      { chatId: caller.chatId, userId: caller.userId, requestMessageId: null, kind: "link", text: request.url, fresh: false, wants },
    ]);
    const outcome = await submitted!.outcome;
    if (outcome.status === "refused") return outcome;
    this.deps.acks.decline(outcome.item.id);
    if (outcome.status === "queued" && request.priority && request.priority !== "normal") {
      const changed = await this.deps.control.prioritise(outcome.item.id, caller.chatId, request.priority);
      if (changed.ok) return { ...outcome, item: changed.item, position: await this.deps.control.position(changed.item) };
    }
    return outcome;
  }
}
