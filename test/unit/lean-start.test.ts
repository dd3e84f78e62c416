import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { loadLean } from "../../src/lean-start.ts";

const http = createRequire(import.meta.url)("node:http") as object;
const getterOf = (key: string) => Object.getOwnPropertyDescriptor(http, key)?.get;

describe("loadLean", () => {
  it("hides node:http's WebSocket getters while loading, and puts the same ones back", async () => {
    const before = ["WebSocket", "CloseEvent", "MessageEvent"].map(getterOf);
    const seen = await loadLean(async () => (http as { WebSocket?: unknown }).WebSocket);
    expect(seen).toBeUndefined();
    expect(["WebSocket", "CloseEvent", "MessageEvent"].map(getterOf)).toEqual(before);
  });

  it("hands out list formatters built on their first use, that format as the real ones, and puts Intl.ListFormat back", async () => {
    const ListFormat = Intl.ListFormat;
    // A counting stand-in for the real one: how many were built, and when.
    let built = 0;
    const Counting = class extends ListFormat {
      constructor(...args: ConstructorParameters<typeof Intl.ListFormat>) {
        super(...args);
        built++;
      }
    };
    (Intl as { ListFormat: typeof Intl.ListFormat }).ListFormat = Counting;
    let made: Intl.ListFormat;
    try {
      made = await loadLean(async () => new Intl.ListFormat("en", { style: "long", type: "disjunction" }));
      expect(Intl.ListFormat).toBe(Counting);
    } finally {
      (Intl as { ListFormat: typeof Intl.ListFormat }).ListFormat = ListFormat;
    }
    expect(built).toBe(0);
    expect(made.format(["a", "b", "c"])).toBe("a, b, or c");
    expect(built).toBe(1);
    expect(made.resolvedOptions().type).toBe("disjunction");
    expect(built).toBe(1);
  });

  it("puts everything back when the load fails", async () => {
    const before = getterOf("WebSocket");
    const ListFormat = Intl.ListFormat;
    await expect(loadLean(async () => Promise.reject(new Error("no")))).rejects.toThrow("no");
    expect(getterOf("WebSocket")).toBe(before);
    expect(Intl.ListFormat).toBe(ListFormat);
  });
});
