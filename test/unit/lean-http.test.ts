import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { withLeanHttp } from "../../src/lean-http.ts";

const http = createRequire(import.meta.url)("node:http") as object;
const getterOf = (key: string) => Object.getOwnPropertyDescriptor(http, key)?.get;

describe("withLeanHttp", () => {
  it("hides node:http's WebSocket getters while loading, and puts the same ones back", async () => {
    const before = ["WebSocket", "CloseEvent", "MessageEvent"].map(getterOf);
    const seen = await withLeanHttp(async () => (http as { WebSocket?: unknown }).WebSocket);
    expect(seen).toBeUndefined();
    expect(["WebSocket", "CloseEvent", "MessageEvent"].map(getterOf)).toEqual(before);
  });

  it("puts them back when the load fails", async () => {
    const before = getterOf("WebSocket");
    await expect(withLeanHttp(async () => Promise.reject(new Error("no")))).rejects.toThrow("no");
    expect(getterOf("WebSocket")).toBe(before);
  });
});
