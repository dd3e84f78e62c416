import { spawn, spawnSync } from "node:child_process";
import { stat } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { nodeRefusal } from "../../src/runtime-check.ts";
import { ROOT, buildIfStale, writeConfig } from "../support/bot-process.ts";
import { Harness } from "../support/harness.ts";

describe("the Node version check", () => {
  it("takes Node 22 and later, and refuses older ones with one line that says what to install", () => {
    expect(nodeRefusal("22.12.0")).toBeUndefined();
    expect(nodeRefusal("24.22.3")).toBeUndefined();
    expect(nodeRefusal("v26.1.0")).toBeUndefined();
    const line = nodeRefusal("20.20.2");
    expect(line).toBe(
      'This bot needs Node 22 or 24; this is Node 20.20.2. Install Node 24 (see the README\'s "Running it"), or run the Docker image.',
    );
    expect(nodeRefusal("18.0.0")).toContain("this is Node 18.0.0");
  });

  beforeAll(() => buildIfStale());

  it("stops the built bot on an older Node before anything loads: the one line, exit code 2, no config read", async () => {
    // This Node pretends to be 20 (the check reads process.versions.node), so the test needs no second Node.
    const child = spawn(
      process.execPath,
      ["--import", 'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"20.20.2"})', "dist/src/main.js"],
      // No config anywhere: had the bot loaded, it would complain about the missing config instead.
      { cwd: ROOT, env: { PATH: process.env.PATH ?? "", CONFIG_FILE: "/nonexistent/config.json" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(2);
    expect(out).toBe(`${nodeRefusal("20.20.2")}\n`);
  });

  it("the running bot writes a heartbeat at start, and the image's health check passes against it", { timeout: 30_000 }, async () => {
    const h = await Harness.create();
    try {
      const before = Date.now();
      await h.start();
      // Written at start, before the first beat's interval.
      expect((await stat(path.join(h.dataDir, ".heartbeat"))).mtimeMs).toBeGreaterThanOrEqual(before - 1000);
      const config = await writeConfig(h);
      const check = spawnSync(process.execPath, ["dist/src/healthcheck.js"], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", CONFIG_FILE: config }, encoding: "utf8" });
      expect(check.status).toBe(0);
      // Written at start, so at most a couple of seconds old.
      expect(check.stdout + check.stderr).toMatch(new RegExp(`^healthy: heartbeat [0-2] s old, 0 items in ${path.join(h.dataDir, "bot.sqlite").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\n$`));
    } finally {
      await h.close();
    }
  });
});
