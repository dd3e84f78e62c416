/**
 * The two waits the bot keeps writing: "this, but no longer than that" and "a pause that a stop
 * cuts short". Each cleans up after itself: no timer keeps the process alive, no listener piles
 * up on a long-lived signal.
 */

/**
 * Waits for `promise` to settle, at most `ms`: true when it settled in time (fulfilled or
 * rejected: the caller only waits, it does not take the outcome), false when the time ran out.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const, () => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves after `ms`, or at once when `signal` aborts (then or already): never rejects. The
 * abort listener goes away with the timer, so a signal that lives for the whole process does not
 * collect one listener per sleep.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
