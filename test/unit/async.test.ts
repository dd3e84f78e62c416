import { describe, expect, it } from "vitest";
import { abortableSleep, settlesWithin } from "../../src/util/async.ts";

describe("settlesWithin", () => {
  it("is true for a promise that settles in time, either way, and false for one that does not", async () => {
    expect(await settlesWithin(Promise.resolve(1), 1000)).toBe(true);
    expect(await settlesWithin(Promise.reject(new Error("no")), 1000)).toBe(true);
    expect(await settlesWithin(new Promise(() => {}), 20)).toBe(false);
  });
});

describe("abortableSleep", () => {
  it("ends at once on abort and leaves no listener on the signal", async () => {
    const controller = new AbortController();
    let listeners = 0;
    const add = controller.signal.addEventListener.bind(controller.signal);
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners++;
      add(...args);
    }) as typeof add;
    controller.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners--;
      remove(...args);
    }) as typeof remove;
    await abortableSleep(1, controller.signal);
    await abortableSleep(1, controller.signal);
    expect(listeners).toBe(0);
    const long = abortableSleep(60_000, controller.signal);
    controller.abort();
    await long;
    expect(listeners).toBe(0);
    await abortableSleep(60_000, controller.signal); // already aborted: at once
  });
});
