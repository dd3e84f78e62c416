import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { migrateToLatest, openDatabase } from "../../src/db/database.ts";
import { HEARTBEAT_FILE, type Heartbeat, heartbeatFresh, startHeartbeat } from "../../src/heartbeat.ts";
import { ROOT, buildIfStale } from "../support/bot-process.ts";

let dir: string;
let heartbeat: Heartbeat | undefined;
const heartbeatFile = () => path.join(dir, HEARTBEAT_FILE);

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "heartbeat-"));
});
afterEach(() => {
  heartbeat?.stop();
  heartbeat = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Polls until `check` holds (a beat is an asynchronous write). */
async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sets the heartbeat's times `secondsAgo` into the past, as a bot that stopped beating leaves it. */
function age(secondsAgo: number): void {
  const then = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(heartbeatFile(), then, then);
}

describe("heartbeatFresh", () => {
  it("is fresh below the limit and stale from it on, in either direction of the clock", () => {
    expect(heartbeatFresh(1_000_000, 1_000_000, 120_000)).toBe(true);
    expect(heartbeatFresh(1_000_000, 1_119_999, 120_000)).toBe(true);
    expect(heartbeatFresh(1_000_000, 1_120_000, 120_000)).toBe(false);
    // A beat a little in the future (another clock's rounding) is fine; far ahead, the clock was set back.
    expect(heartbeatFresh(1_005_000, 1_000_000, 120_000)).toBe(true);
    expect(heartbeatFresh(1_200_000, 1_000_000, 120_000)).toBe(false);
  });
});

describe("startHeartbeat", () => {
  it("writes the time into dataDir/.heartbeat at once and again every interval, until stopped", async () => {
    const before = Date.now();
    heartbeat = startHeartbeat(dir);
    await until(() => existsSync(heartbeatFile()) && readFileSync(heartbeatFile(), "utf8").endsWith("\n"), "the first beat");
    const written = Date.parse(readFileSync(heartbeatFile(), "utf8").trim());
    expect(written).toBeGreaterThanOrEqual(before - 1000);
    expect(written).toBeLessThanOrEqual(Date.now() + 1000);
    await heartbeat.stop();

    const first = readFileSync(heartbeatFile(), "utf8");
    heartbeat = startHeartbeat(dir, { intervalMs: 50 });
    // The new start's own beat has landed (the file says another time, whole): what comes after is the interval's.
    await until(() => {
      const now = readFileSync(heartbeatFile(), "utf8");
      return now !== first && now.endsWith("\n");
    }, "the beat at start");
    age(600);
    await until(() => Date.now() - statSync(heartbeatFile()).mtimeMs < 5000, "the next beat");

    // Resolves once a beat under way landed: nothing writes after it.
    await heartbeat.stop();
    age(600);
    await new Promise((r) => setTimeout(r, 200)); // four intervals
    expect(Date.now() - statSync(heartbeatFile()).mtimeMs).toBeGreaterThan(500_000);
  });

  it("tells onError when a beat cannot be written, and goes on", async () => {
    const errors: unknown[] = [];
    heartbeat = startHeartbeat(path.join(dir, "missing"), { intervalMs: 20, onError: (e) => errors.push(e) });
    await until(() => errors.length >= 2, "two failed beats");
    expect((errors[0] as NodeJS.ErrnoException).code).toBe("ENOENT");
  });

  it("refuses an interval that is not a positive whole number", () => {
    expect(() => startHeartbeat(dir, { intervalMs: 0 })).toThrow(/intervalMs/);
  });
});

describe("the health check process (node dist/src/healthcheck.js, the image's HEALTHCHECK)", () => {
  beforeAll(buildIfStale, 120_000);

  function healthcheck(config: object = { botToken: "123456:health-check-token", allowedChatIds: [1], dataDir: dir }) {
    const result = spawnSync(process.execPath, ["dist/src/healthcheck.js"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", CONFIG_JSON: JSON.stringify(config) },
      encoding: "utf8",
      timeout: 20_000,
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  it("is healthy with a fresh heartbeat and a database made by the real migrations, open in the bot", async () => {
    heartbeat = startHeartbeat(dir);
    await until(() => existsSync(heartbeatFile()), "the first beat");
    const db = openDatabase(path.join(dir, "bot.sqlite"));
    try {
      await migrateToLatest(db);
      const result = healthcheck();
      expect(result).toMatchObject({ code: 0, stderr: "" });
      expect(result.stdout).toMatch(/^healthy: heartbeat \d+ s old, 0 items in .*bot\.sqlite\n$/);
    } finally {
      await db.destroy();
    }
  });

  it("is unhealthy, in one line, when the heartbeat is stale", async () => {
    const db = openDatabase(path.join(dir, "bot.sqlite"));
    await migrateToLatest(db);
    await db.destroy();
    heartbeat = startHeartbeat(dir);
    await until(() => existsSync(heartbeatFile()), "the first beat");
    await heartbeat.stop();
    age(600);
    const result = healthcheck();
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    // 600 s back, read a moment later: 600 or 601.
    expect(result.stderr).toMatch(/^unhealthy: the heartbeat at .*\.heartbeat is 60[01] s old \(at most 120 s expected\): the bot is stuck or not running\n$/);
  });

  it("is unhealthy without a database, and does not create one", async () => {
    heartbeat = startHeartbeat(dir);
    await until(() => existsSync(heartbeatFile()), "the first beat");
    const result = healthcheck();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^unhealthy: no database at .*bot\.sqlite: the bot has not started, or runs with another dataDir\n$/);
    expect(result.stderr.split("\n")).toHaveLength(2);
    expect(existsSync(path.join(dir, "bot.sqlite"))).toBe(false);
  });

  it("is unhealthy without a heartbeat, and with a config the bot would refuse", () => {
    expect(healthcheck()).toMatchObject({ code: 1, stderr: expect.stringMatching(/^unhealthy: no heartbeat at .*\.heartbeat: the bot has not started/) });
    expect(healthcheck({ allowedChatIds: [1], dataDir: dir })).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^unhealthy: the config cannot be read: Invalid CONFIG_JSON: "botToken": .+\n$/),
    });
  });
});
