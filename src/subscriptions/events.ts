import type { Logger } from "../logger.ts";
import type { CheckResult, CheckTrigger, Subscription } from "./subscription.ts";

/**
 * What the subscription engine announces: each check's outcome, as the queue's events are (data
 * only; the chat side words it). `told` is set on the one check that crossed a line the chat is
 * told of once: checks keep failing ("failing"), or work again after that ("recovered").
 */
export type SubscriptionEvent = {
  type: "checked";
  /** As stored after the check. */
  subscription: Subscription;
  result: CheckResult;
  trigger: CheckTrigger;
  told: "failing" | "recovered" | null;
};

export type SubscriptionListener = (event: SubscriptionEvent) => void;

export class SubscriptionEvents {
  private readonly listeners = new Set<SubscriptionListener>();

  constructor(private readonly logger: Logger) {}

  /** Adds a listener; returns what removes it. */
  on(listener: SubscriptionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells every listener; one that throws is logged and the others still hear it. */
  emit(event: SubscriptionEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, "a subscription listener failed");
      }
    }
  }
}
