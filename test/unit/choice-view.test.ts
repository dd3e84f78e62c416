import { describe, expect, it } from "vitest";
import { decodeChoice, encodeChoice, renderChosen, renderEntriesQuestion } from "../../src/bot/views/choice-view.ts";
import { type EntriesOffer, chosenEntries, entriesChoice } from "../../src/items/choice.ts";
import type { Item } from "../../src/items/item.ts";

const NOW = 1_800_000_000_000;
/** What the views read of an item: its id, its title and its deadline. */
const item = { id: 7, title: "Clips <of> the week", choiceDeadline: NOW + 10 * 60_000 } as Item;

function offer(n: number, main: string | null = null): EntriesOffer {
  return {
    kind: "entries",
    entries: Array.from({ length: n }, (_, index) => ({ index, title: `Clip ${index + 1}`, url: `https://example.com/${index}.mp4`, sizeBytes: (index + 1) * 1024 })),
    main,
  };
}

const labels = (markup: { inline_keyboard: Array<Array<{ text: string }>> }) => markup.inline_keyboard.map((row) => row.map((b) => b.text));

describe("a page's videos as a question (pure)", () => {
  it("offers each video and All N, and says what comes without a choice", () => {
    const { text, markup } = renderEntriesQuestion(item, offer(4), 0, NOW);
    expect(text).toBe(
      "🎞 #7 <b>Clips &lt;of&gt; the week</b> shows 4 videos: which should come? Each comes as a download of its own.\n" +
        "The next download runs meanwhile.\nWithout a choice within 10m 0s, it goes on with all of them.",
    );
    expect(labels(markup)).toEqual([["1. Clip 1 · 1.0 KB"], ["2. Clip 2 · 2.0 KB"], ["3. Clip 3 · 3.0 KB"], ["4. Clip 4 · 4.0 KB"], ["▶️ All 4 (10.0 KB)"]]);
    const named = renderEntriesQuestion(item, offer(2, "The <main> one"), 0, NOW).text;
    expect(named).toMatch(/it goes on with <b>The &lt;main&gt; one<\/b> only, the page's main video\.$/);
  });

  it("pages a long gallery like a torrent's file list, and leaves the total out when a size is unknown", () => {
    const many = offer(10);
    many.entries[9]!.sizeBytes = null;
    const second = renderEntriesQuestion(item, many, 1, NOW);
    expect(second.page).toBe(1);
    expect(labels(second.markup)).toEqual([["9. Clip 9 · 9.0 KB"], ["10. Clip 10"], ["« Back", "2/2"], ["▶️ All 10"]]);
    // A page past the end shows the last one.
    expect(renderEntriesQuestion(item, many, 9, NOW).page).toBe(1);
  });

  it("encodes a press on a video and on All, and refuses malformed data", () => {
    for (const press of [{ op: "entry", itemId: 7, index: 3 }, { op: "entries", itemId: 7 }] as const) expect(decodeChoice(encodeChoice(press))).toEqual(press);
    expect(encodeChoice({ op: "entry", itemId: 7, index: 3 })).toBe("c:e:7:3");
    expect(decodeChoice("c:e:7")).toBeNull();
    expect(decodeChoice("c:e:7:x")).toBeNull();
    expect(decodeChoice("c:g:7:1")).toBeNull();
  });

  it("says what was chosen, or what came when nobody chose", () => {
    const four = offer(4, "Clip 2");
    expect(renderChosen(item, four, { kind: "entries", indices: [0, 1, 2, 3] }, false)).toBe("✓ #7 <b>Clips &lt;of&gt; the week</b>: all 4 videos, each to come as a download of its own.");
    expect(renderChosen(item, four, { kind: "entries", indices: [2] }, false)).toBe("✓ #7 <b>Clips &lt;of&gt; the week</b>: <b>Clip 3</b>, each to come as a download of its own.");
    expect(renderChosen(item, four, { kind: "entries", indices: [0, 2] }, false)).toBe("✓ #7 <b>Clips &lt;of&gt; the week</b>: 2 of its 4 videos, each to come as a download of its own.");
    expect(renderChosen(item, four, { kind: "default", timedOut: true }, true)).toBe(
      "⏱ #7 <b>Clips &lt;of&gt; the week</b>: nobody chose in time, so it goes on with <b>Clip 2</b> only, the page's main video. Back in line.",
    );
  });
});

describe("choosing from a page's videos (pure)", () => {
  it("takes one video by its index, or all; nothing for an index the offer lacks", () => {
    const three = offer(3);
    expect(entriesChoice(three, "all")).toEqual({ kind: "entries", indices: [0, 1, 2] });
    expect(entriesChoice(three, 1)).toEqual({ kind: "entries", indices: [1] });
    expect(entriesChoice(three, 3)).toBeNull();
    expect(chosenEntries(three, { kind: "entries", indices: [2, 0] }).map((e) => e.title)).toEqual(["Clip 1", "Clip 3"]);
  });
});
