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

  it("hands out list formatters that format as the real ones, and puts Intl.ListFormat back", async () => {
    const ListFormat = Intl.ListFormat;
    const made = await loadLean(async () => new Intl.ListFormat("en", { style: "long", type: "disjunction" }));
    expect(Intl.ListFormat).toBe(ListFormat);
    expect(made.format(["a", "b", "c"])).toBe("a, b, or c");
    expect(made.resolvedOptions().type).toBe("disjunction");
  });

  it("puts everything back when the load fails", async () => {
    const before = getterOf("WebSocket");
    const ListFormat = Intl.ListFormat;
    await expect(loadLean(async () => Promise.reject(new Error("no")))).rejects.toThrow("no");
    expect(getterOf("WebSocket")).toBe(before);
    expect(Intl.ListFormat).toBe(ListFormat);
  });
});
