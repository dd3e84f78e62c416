import { afterEach, describe, expect, it } from "vitest";
import type { ChoiceOffer } from "../../src/items/choice.ts";
import { ApiTokens } from "../../src/web/api-tokens.ts";
import { chatStartParam } from "../../src/web/auth.ts";
import { choiceFor } from "../../src/web/choice-input.ts";
import { HttpFailure } from "../../src/web/http-errors.ts";
import { checkInitData, initDataKey, signInitData } from "../../src/web/init-data.ts";
import { ProgressThrottle, type Timers } from "../../src/web/progress-throttle.ts";
import { RateLimiter } from "../../src/web/rate-limit.ts";
import { type TestDb, openTestDb } from "../support/test-db.ts";

const KEY = initDataKey("123456:TEST-token");
const NOW_S = 1_800_000_000;

/** initData as a Telegram client hands it to the page: a query string with its hash. */
function initData(fields: Record<string, string>, key = KEY): string {
  return new URLSearchParams({ ...fields, hash: signInitData(fields, key) }).toString();
}
const USER_FIELD = JSON.stringify({ id: 501, first_name: "Ann", username: "ann" });

describe("Mini App initData", () => {
  it("takes data signed with the bot's key, and reads the user and the start parameter", () => {
    const raw = initData({ auth_date: String(NOW_S - 60), query_id: "AAH", user: USER_FIELD, start_param: "cm1001" });
    expect(checkInitData(raw, KEY, NOW_S)).toEqual({ ok: true, user: { id: 501, firstName: "Ann", username: "ann" }, authDate: NOW_S - 60, startParam: "cm1001" });
  });

  it("refuses data signed with another token, changed after signing, older than a day, or malformed", () => {
    const fields = { auth_date: String(NOW_S - 60), user: USER_FIELD };
    expect(checkInitData(initData(fields, initDataKey("654321:OTHER")), KEY, NOW_S)).toEqual({ ok: false, why: "bad-signature" });
    const changed = initData(fields).replace("Ann", "Bob");
    expect(checkInitData(changed, KEY, NOW_S)).toEqual({ ok: false, why: "bad-signature" });
    expect(checkInitData(initData({ ...fields, auth_date: String(NOW_S - 86_401) }), KEY, NOW_S)).toEqual({ ok: false, why: "expired" });
    expect(checkInitData(initData({ ...fields, auth_date: String(NOW_S + 3600) }), KEY, NOW_S)).toEqual({ ok: false, why: "expired" });
    expect(checkInitData(initData({ auth_date: String(NOW_S) }), KEY, NOW_S)).toEqual({ ok: false, why: "no-user" });
    for (const raw of ["", "user=1", `${initData(fields)}&user=x`, initData(fields).replace(/hash=[0-9a-f]+/, "hash=zz")]) {
      expect(checkInitData(raw, KEY, NOW_S)).toEqual({ ok: false, why: "malformed" });
    }
  });

  it("names a chat in a start parameter Telegram accepts ([A-Za-z0-9_-])", () => {
    expect([chatStartParam(501), chatStartParam(-1001234567890)]).toEqual(["c501", "cm1001234567890"]);
  });
});

describe("the event stream's progress throttle", () => {
  /** A clock and timers the test moves by hand. */
  function manualTimers() {
    let now = 0;
    const due: Array<{ at: number; fn: () => void }> = [];
    const timers: Timers = {
      now: () => now,
      after(ms, fn) {
        const entry = { at: now + ms, fn };
        due.push(entry);
        return () => due.splice(due.indexOf(entry), 1);
      },
    };
    const advance = (ms: number) => {
      now += ms;
      for (const entry of due.filter((d) => d.at <= now)) {
        due.splice(due.indexOf(entry), 1);
        entry.fn();
      }
    };
    return { timers, advance, pending: () => due.length };
  }

  it("sends the first progress at once, then the newest once a second, per item", () => {
    const { timers, advance } = manualTimers();
    const sent: string[] = [];
    const throttle = new ProgressThrottle<string>((e) => sent.push(e), 1000, timers);
    throttle.progress(1, "a1");
    throttle.progress(2, "b1");
    advance(300);
    throttle.progress(1, "a2");
    advance(300);
    throttle.progress(1, "a3");
    expect(sent).toEqual(["a1", "b1"]);
    advance(400);
    expect(sent).toEqual(["a1", "b1", "a3"]);
    advance(1000);
    expect(sent).toEqual(["a1", "b1", "a3"]);
  });

  it("lets any other event through at once and drops the older progress still waiting", () => {
    const { timers, advance, pending } = manualTimers();
    const sent: string[] = [];
    const throttle = new ProgressThrottle<string>((e) => sent.push(e), 1000, timers);
    throttle.progress(1, "started-progress");
    advance(100);
    throttle.progress(1, "late-progress");
    throttle.other(1, "delivered");
    advance(2000);
    expect(sent).toEqual(["started-progress", "delivered"]);
    throttle.progress(1, "next");
    throttle.progress(1, "next2");
    throttle.close();
    expect(pending()).toBe(0);
    expect(sent).toEqual(["started-progress", "delivered", "next"]);
  });
});

describe("the rate limit", () => {
  it("allows a minute's worth at once, then one as each comes due, per key", () => {
    const limiter = new RateLimiter(60);
    for (let i = 0; i < 60; i++) expect(limiter.take("a", 0)).toBe(0);
    expect(limiter.take("a", 0)).toBe(1000);
    expect(limiter.take("b", 0)).toBe(0);
    expect(limiter.take("a", 1000)).toBe(0);
    expect(limiter.take("a", 1000)).toBeGreaterThan(0);
  });
});

describe("a choice made over the web", () => {
  const files: ChoiceOffer = {
    kind: "files",
    files: [
      { index: 0, path: "a.mkv", size: 1, selectable: true },
      { index: 1, path: "big.iso", size: 9, selectable: false },
      { index: 2, path: "b.mkv", size: 1, selectable: true },
    ],
  };
  const quality: ChoiceOffer = { kind: "quality", audio: false, qualities: [{ id: "v1", height: 720, sizeBytes: 10, fits: true }, { id: "v2", height: 1080, sizeBytes: 99, fits: false }] };

  it("is the Choice the chat's buttons would make, when the offer has it", () => {
    expect(choiceFor(files, { kind: "files", indices: [2, 0, 2] })).toEqual({ kind: "files", indices: [0, 2] });
    expect(choiceFor(quality, { kind: "quality", id: "v1" })).toEqual({ kind: "quality", id: "v1" });
    expect(choiceFor(quality, { kind: "best" })).toEqual({ kind: "best" });
  });

  it("names the field that does not fit the offer", () => {
    const field = (answer: unknown) => (answer instanceof HttpFailure ? answer.details.field : answer);
    expect(field(choiceFor(files, { kind: "files", indices: [0, 1] }))).toBe("indices.1");
    expect(field(choiceFor(files, { kind: "best" }))).toBe("kind");
    expect(field(choiceFor(quality, { kind: "quality", id: "v2" }))).toBe("id");
    expect(field(choiceFor(quality, { kind: "audio" }))).toBe("kind");
  });
});

describe("API tokens", () => {
  let opened: TestDb | undefined;
  afterEach(async () => {
    await opened?.close();
    opened = undefined;
  });

  it("verify only the token as made, for its chat, until the chat revokes its tokens", async () => {
    opened = await openTestDb("dlbot-tokens-");
    const { db } = opened;
    const tokens = new ApiTokens(db);
    const a = await tokens.create(1, 7);
    const b = await tokens.create(2, null);
    expect(a).toMatch(/^dlb_1_[A-Za-z0-9_-]{43}$/);
    expect(await tokens.verify(a)).toEqual({ tokenId: 1, chatId: 1, userId: 7 });
    expect(await tokens.verify(b)).toEqual({ tokenId: 2, chatId: 2, userId: null });
    // Another row's id with this secret, a changed secret, junk.
    expect(await tokens.verify(a.replace("dlb_1_", "dlb_2_"))).toBeUndefined();
    expect(await tokens.verify(`${a.slice(0, -2)}xx`)).toBeUndefined();
    expect(await tokens.verify("dlb_9_x")).toBeUndefined();
    expect(await tokens.revoke(1)).toBe(1);
    expect(await tokens.verify(a)).toBeUndefined();
    expect(await tokens.verify(b)).toBeDefined();
  });
});
