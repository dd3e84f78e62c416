import type { AppError } from "../errors.ts";

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

/**
 * The one place that decides "retry" or "give up". `failedAttempts` counts this failure too; the
 * n-th failure waits `delays[n-1]`, and once the delays run out the item fails for good.
 */
export function decideRetry(error: AppError, failedAttempts: number, delays: readonly number[]): RetryDecision {
  if (!error.retryable) return { retry: false };
  const delay = delays[failedAttempts - 1];
  return delay === undefined ? { retry: false } : { retry: true, delayMs: delay };
}
