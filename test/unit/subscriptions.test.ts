import { describe, expect, it } from "vitest";
import { describeResult, describeWatchProblem, renderWatches, scheduleText } from "../../src/bot/views/subscription-view.ts";
import { feedListing, looksLikeFeed } from "../../src/subscriptions/entry-sources.ts";
import { filterText, parseFilter, passes } from "../../src/subscriptions/filters.ts";
import { MIN_INTERVAL_MS, nextCheckAfter, parseSchedule, retryAfterFailure, spreadOut } from "../../src/subscriptions/schedule.ts";
import { parseWatchArgs } from "../../src/subscriptions/watch-args.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;

describe("a subscription's schedule", () => {
  it("reads intervals from 15 minutes up and cron expressions no more often than that", () => {
    expect(parseSchedule("2h")).toEqual({ ok: true, schedule: { kind: "every", ms: 2 * HOUR } });
    expect(parseSchedule("90 minutes")).toEqual({ ok: true, schedule: { kind: "every", ms: 90 * MIN } });
    expect(parseSchedule("1d")).toEqual({ ok: true, schedule: { kind: "every", ms: 24 * HOUR } });
    expect(parseSchedule("15m")).toEqual({ ok: true, schedule: { kind: "every", ms: MIN_INTERVAL_MS } });
    expect(parseSchedule("10m")).toMatchObject({ ok: false, problem: { kind: "tooOften" } });
    expect(parseSchedule("2 fortnights")).toMatchObject({ ok: false, problem: { kind: "badSchedule" } });
    expect(parseSchedule("0 6 * * *")).toEqual({ ok: true, schedule: { kind: "cron", expression: "0 6 * * *" } });
    expect(parseSchedule("*/15 * * * *")).toMatchObject({ ok: true });
    expect(parseSchedule("*/5 * * * *")).toMatchObject({ ok: false, problem: { kind: "tooOften" } });
    // Twice an hour, five minutes apart: the shortest gap is what counts.
    expect(parseSchedule("0,5 * * * *")).toMatchObject({ ok: false, problem: { kind: "tooOften" } });
    expect(parseSchedule("61 * * * *")).toMatchObject({ ok: false, problem: { kind: "badSchedule" } });
  });

  it("comes after the interval or at the cron's next time (UTC), later and later while checks fail", () => {
    const t = Date.UTC(2026, 11, 6, 10, 30);
    expect(nextCheckAfter({ kind: "every", ms: HOUR }, t)).toBe(t + HOUR);
    expect(nextCheckAfter({ kind: "cron", expression: "0 6 * * *" }, t)).toBe(Date.UTC(2026, 11, 7, 6, 0));
    const every = { kind: "every", ms: HOUR } as const;
    expect([1, 2, 3, 4, 5, 9].map((n) => (retryAfterFailure(every, t, n) - t) / HOUR)).toEqual([1, 2, 4, 8, 8, 8]);
    // Never more than two days on, but never before the next interval either.
    expect(retryAfterFailure({ kind: "every", ms: 24 * HOUR }, t, 4) - t).toBe(48 * HOUR);
    expect(retryAfterFailure({ kind: "every", ms: 72 * HOUR }, t, 4) - t).toBe(72 * HOUR);
    const hourly = { kind: "cron", expression: "0 * * * *" } as const;
    expect([1, 2, 3].map((n) => retryAfterFailure(hourly, t, n))).toEqual([Date.UTC(2026, 11, 6, 11), Date.UTC(2026, 11, 6, 12), Date.UTC(2026, 11, 6, 14)]);
  });

  it("spreads checks that would fall at the same moment", () => {
    expect(spreadOut(1000, [], 500)).toBe(1000);
    expect(spreadOut(1000, [1000], 500)).toBe(1500);
    expect(spreadOut(1000, [800, 1200, 1700, 5000], 500)).toBe(2200);
    expect(spreadOut(1000, [300, 1400], 500)).toBe(1900);
    // Exactly the gap away is far enough.
    expect(spreadOut(1000, [500, 1500], 500)).toBe(1000);
    expect(spreadOut(1000, [1000], 0)).toBe(1000);
  });
});

describe("match and exclude", () => {
  const filters = (match?: string, exclude?: string) => ({ match: match ? parseFilter(match) : null, exclude: exclude ? parseFilter(exclude) : null });

  it("takes every word of match (case and accents aside) and rules out any word of exclude", () => {
    const f = filters("episode", "trailer teaser");
    expect(passes("Épisode 12", f)).toBe(true);
    expect(passes("EPISODE 3 — Trailer", f)).toBe(false);
    expect(passes("Episode 4 teaser", f)).toBe(false);
    expect(passes("Bonus", f)).toBe(false);
    expect(passes("Anything", filters(undefined, "trailer"))).toBe(true);
    expect(passes("The big show, part 2", filters("show part"))).toBe(true);
    expect(passes("The big show", filters("show part"))).toBe(false);
  });

  it("takes a /regular expression/, always case-insensitive, and refuses one that is not valid", () => {
    expect(passes("S01E02 The One", filters("/s\\d+e\\d+/"))).toBe(true);
    expect(passes("Behind the scenes", filters("/s\\d+e\\d+/"))).toBe(false);
    expect(passes("S01E02 [720p]", filters(undefined, "/\\[(480|720)p\\]/"))).toBe(false);
    expect(parseFilter("/(unclosed/")).toBeNull();
    expect(parseFilter("  ")).toBeNull();
  });

  it("filters an entry without a title on its file name", () => {
    expect(filterText({ title: null, url: "https://x.invalid/files/Episode%2012.mp3?x=1" })).toBe("Episode 12.mp3");
    expect(filterText({ title: "Named", url: "https://x.invalid/a.mp3" })).toBe("Named");
  });
});

describe("/watch's arguments", () => {
  it("reads the URL and the options in any order, a regular expression whole", () => {
    expect(parseWatchArgs("https://x.invalid/feed.xml every 2h match /part \\d+ last/ exclude trailer last 3")).toEqual({
      ok: true,
      args: { url: "https://x.invalid/feed.xml", schedule: { kind: "every", ms: 2 * HOUR }, match: "/part \\d+ last/", exclude: "trailer", last: 3 },
    });
    expect(parseWatchArgs("https://x.invalid/f last 1 every 0 6 * * *")).toEqual({
      ok: true,
      args: { url: "https://x.invalid/f", last: 1, schedule: { kind: "cron", expression: "0 6 * * *" } },
    });
    expect(parseWatchArgs("https://x.invalid/f")).toEqual({ ok: true, args: { url: "https://x.invalid/f" } });
  });

  it("says what is wrong, each thing", () => {
    expect(parseWatchArgs("")).toEqual({ ok: false, problems: [{ kind: "noUrl" }] });
    expect(parseWatchArgs("ftp://x.invalid/f")).toEqual({ ok: false, problems: [{ kind: "badUrl", text: "ftp://x.invalid/f" }] });
    const bad = parseWatchArgs("https://x.invalid/f often every 5m match /(/ last 500");
    expect(bad).toMatchObject({ ok: false });
    const problems = bad.ok ? [] : bad.problems;
    expect(problems.map((p) => p.kind)).toEqual(["unexpected", "tooOften", "badFilter", "badLast"]);
    expect(problems.map(describeWatchProblem)).toEqual([
      "“often” is not an option (every, match, exclude, last).",
      "every 5m is too often: 15 min at least.",
      "match “/(/” is not words or a valid /regular expression/.",
      "last “500”: give a number from 0 to 50.",
    ]);
  });
});

describe("reading a feed (the real parser)", () => {
  const rss = `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Pod &amp; Cast</title>
    <item><title>Two</title><guid>g2</guid><pubDate>Tue, 02 Dec 2025 10:00:00 GMT</pubDate><enclosure url="/e/2.mp3" type="audio/mpeg" length="5"/></item>
    <item><title>Three</title><guid>g3</guid><pubDate>Wed, 03 Dec 2025 10:00:00 GMT</pubDate><link>https://x.invalid/3.html</link></item>
    <item><title>One</title><guid>g1</guid><pubDate>Mon, 01 Dec 2025 10:00:00 GMT</pubDate><enclosure url="https://cdn.invalid/1.mp3" type="audio/mpeg"/></item>
    <item><title>No link</title><guid>g0</guid></item>
  </channel></rss>`;

  it("lists RSS entries oldest first by date: the enclosure (resolved against the feed), else the link", () => {
    const listing = feedListing(rss, "https://x.invalid/feeds/pod.xml");
    expect(listing.name).toBe("Pod & Cast");
    expect(listing.entries).toEqual([
      { key: "g1", url: "https://cdn.invalid/1.mp3", title: "One", publishedAt: Date.UTC(2025, 11, 1, 10), expectFile: true },
      { key: "g2", url: "https://x.invalid/e/2.mp3", title: "Two", publishedAt: Date.UTC(2025, 11, 2, 10), expectFile: true },
      { key: "g3", url: "https://x.invalid/3.html", title: "Three", publishedAt: Date.UTC(2025, 11, 3, 10) },
    ]);
  });

  it("reads Atom, its enclosure links, and the feed's order backwards when dates are missing", () => {
    const atom = `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Uploads</title>
      <entry><id>urn:b</id><title>B</title><link rel="alternate" href="https://x.invalid/b"/><link rel="enclosure" href="https://x.invalid/b.mp4" type="video/mp4"/></entry>
      <entry><id>urn:a</id><title>A</title><link href="https://x.invalid/a"/></entry>
    </feed>`;
    const listing = feedListing(atom, "https://x.invalid/atom");
    expect(listing.entries.map((e) => [e.key, e.url])).toEqual([["urn:a", "https://x.invalid/a"], ["urn:b", "https://x.invalid/b.mp4"]]);
  });

  it("refuses what is not a feed, and tells a feed from a page by its type or its root element", () => {
    expect(() => feedListing("<rss><channel><item><title>cut</ti", "https://x.invalid/")).toThrow(expect.objectContaining({ reason: { kind: "feedUnreadable" } }));
    expect(() => feedListing("<html><body>hi</body></html>", "https://x.invalid/")).toThrow(expect.objectContaining({ reason: { kind: "feedUnreadable" } }));
    expect(looksLikeFeed("application/rss+xml", Buffer.from(""))).toBe(true);
    expect(looksLikeFeed("text/xml", Buffer.from('\uFEFF<?xml version="1.0"?>\n<!-- hi --><feed xmlns="http://www.w3.org/2005/Atom">'))).toBe(true);
    expect(looksLikeFeed("application/octet-stream", Buffer.from("<rss version='2.0'>"))).toBe(true);
    expect(looksLikeFeed("text/xml", Buffer.from('<?xml version="1.0"?><html>'))).toBe(false);
  });
});

describe("the words of a check", () => {
  const ok = { kind: "ok", found: 12, fresh: 0, queued: 0, duplicate: 0, refused: 0, filtered: 0, left: 0, first: false } as const;

  it("says what a check did in one sentence", () => {
    expect(scheduleText({ kind: "every", ms: 90 * MIN })).toBe("every 1 h 30 min");
    expect(scheduleText({ kind: "every", ms: 30 * MIN })).toBe("every 30 min");
    expect(scheduleText({ kind: "every", ms: 72 * HOUR })).toBe("every 3 d");
    expect(scheduleText({ kind: "cron", expression: "0 6 * * *" })).toBe("at <code>0 6 * * *</code> (cron, UTC)");
    expect(describeResult(ok)).toBe("nothing new");
    expect(describeResult({ ...ok, fresh: 5, queued: 2, duplicate: 1, refused: 1, filtered: 1, left: 3 })).toBe(
      "2 new queued; 1 already in the queue; 1 refused (too large, or not a link the bot fetches); 1 left out by match/exclude; 3 more left for the next check",
    );
    expect(describeResult({ ...ok, first: true, queued: 1 })).toBe("12 entries there now, the newest 1 queued");
    const many = Array.from({ length: 40 }, (_, i) => ({
      id: i + 1, chatId: 1, userId: null, url: `https://x.invalid/${"long/".repeat(30)}${i}`, kind: "feed" as const, name: `Feed <${i}>`,
      schedule: { kind: "every" as const, ms: HOUR }, match: null, exclude: null, lastN: 0, nextCheckAt: 2 * HOUR, checkedAt: null, baselineAt: null,
      failures: 0, failureTold: false, lastResult: ok, createdAt: 0, updatedAt: 0, queuedSoFar: i,
    }));
    const list = renderWatches(many, HOUR);
    expect(list.length).toBeLessThanOrEqual(4000);
    expect(list).toMatch(/^👀 Watched in this chat \(40\):\n\n#1 <b>Feed &lt;0&gt;<\/b> · feed\nevery 1 h · next check in 1 h · 0 queued so far\nlast check: nothing new\n/);
    expect(list).toMatch(/\n\n… and \d+ more \(\/check and \/unwatch take their numbers\)\.$/);
    expect(describeResult({ kind: "failed", code: "NO_MEDIA", reason: { kind: "nothingToWatch" } })).toBe(
      "the check failed: there is no feed, playlist or list of files there to watch",
    );
  });
});
