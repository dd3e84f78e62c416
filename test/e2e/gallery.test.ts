import { afterEach, describe, expect, it } from "vitest";
import { listItems } from "../../src/db/item-repository.ts";
import type { ConfigInput } from "../../src/config.ts";
import type { RecordedCall } from "../support/bot-api-double.ts";
import { CHAT, Harness, USER, messageIdOf } from "../support/harness.ts";
import { playableMp4 } from "../support/media.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A gallery of four clips, each lazy: a placeholder in src (a data: gif, a blank gif, nothing, "#"), the real address in data-src. */
async function gallery(overrides: Partial<ConfigInput> = {}) {
  h = await Harness.create(overrides);
  const clips = ["one", "two", "three", "four"].map((name, i) => h!.files.addFile(`/clips/${name}.mp4`, playableMp4(60 + i), { contentType: "video/mp4" }));
  h.files.addFile("/img/blank.gif", Buffer.from("R0lGODlhAQABAAAAACw=", "base64"), { contentType: "image/gif" });
  const page = h.files.addHtml(
    "/gallery/week.html",
    `<!doctype html><html><head><title>Clips of the week</title></head><body><div class="gallery">
      <figure><video class="lazyload" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/clips/one.mp4" controls></video><figcaption>Opening</figcaption></figure>
      <figure><video class="lazyload" src="/img/blank.gif" data-src="/clips/two.mp4" controls></video><figcaption>The goal</figcaption></figure>
      <figure><video class="lazyload" src="" data-src="/clips/three.mp4" controls></video><figcaption>Interview</figcaption></figure>
      <figure><video class="lazyload" src="#" data-src="/clips/four.mp4" controls></video><figcaption>Highlights</figcaption></figure>
    </div><script src="/js/lazysizes.js"></script></body></html>`,
  );
  await h.start();
  return { clips, page };
}

/** The question the bot asks about a page's videos. */
function question(since: number): Promise<RecordedCall> {
  return h!.api.waitForCall((c) => c.method === "sendMessage" && c.response?.ok === true && /shows 4 videos: which should come\?/.test(String(c.params.text)), { since });
}

function buttons(messageId: number): string[] {
  return (h!.api.chat(CHAT).find((m) => m.message_id === messageId)!.reply_markup?.inline_keyboard.flat() ?? []).map((b) => b.text);
}

/** Presses the button whose text matches and waits until the bot answered the press. */
async function press(messageId: number, text: RegExp): Promise<void> {
  const message = h!.api.chat(CHAT).find((m) => m.message_id === messageId)!;
  const button = message.reply_markup!.inline_keyboard.flat().find((b) => text.test(b.text));
  if (!button || !("callback_data" in button)) throw new Error(`no button ${text} in ${JSON.stringify(message.reply_markup)}`);
  const since = h!.api.nextSeq;
  h!.api.pressButton(CHAT, messageId, button.callback_data!, { fromId: USER });
  await h!.api.waitForCall((c) => c.method === "answerCallbackQuery", { since });
}

/** Waits for `n` uploads in all, and gives them as [method, sha256] sorted by hash. */
async function delivered(n: number, since: number): Promise<string[][]> {
  await h!.api.waitForCall(() => h!.uploads().length >= n, { since });
  return h!.uploads().map((u) => [u.method, u.files[0]!.sha256]).sort((a, b) => a[1]!.localeCompare(b[1]!));
}

const sorted = (clips: Array<{ sha256: string }>) => clips.map((c) => ["sendVideo", c.sha256]).sort((a, b) => a[1]!.localeCompare(b[1]!));

describe("a page that shows several videos", () => {
  it("asks which of the four lazy videos should come, and 'All 4' delivers all four", { timeout: 60_000 }, async () => {
    const { clips, page } = await gallery();
    const since = h!.api.nextSeq;
    h!.send(`/download ${page}`);
    const asked = messageIdOf(await question(since));
    expect(h!.textOf(asked)).toMatch(/^🎞 #1 Clips of the week shows 4 videos: which should come\?/);
    // Each video by what the page calls it, with its size from a pre-check; then All.
    const size = (i: number) => `${(clips[i]!.size / 1024).toFixed(1)} KB`;
    expect(buttons(asked)).toEqual([`1. Opening · ${size(0)}`, `2. The goal · ${size(1)}`, `3. Interview · ${size(2)}`, `4. Highlights · ${size(3)}`, expect.stringMatching(/^▶️ All 4 \(/)]);
    // Only pre-checked while it waits: no clip fetched, the placeholders never asked for.
    expect(h!.files.requests.filter((r) => r.path.startsWith("/clips/")).map((r) => r.method)).toEqual(["HEAD", "HEAD", "HEAD", "HEAD"]);
    expect((await listItems(h!.app!.db)).map((i) => i.status)).toEqual(["choosing"]);

    await press(asked, /^▶️ All 4/);
    expect(await delivered(4, since)).toEqual(sorted(clips));
    expect(h!.textOf(asked)).toBe("✓ #1 Clips of the week: all 4 videos, each to come as a download of its own.");
    expect(String((await h!.reply(since, CHAT, /chosen/)).params.text)).toBe("📄 <b>Clips of the week</b>: 4 videos chosen, all queued.");
    // The last one's final line (one live message per chat): its outcome is recorded by then (an upload's answer comes first).
    const last = clips.at(-1)!.url.split("/").at(-1)!;
    await h!.api.waitForCall((c) => c.method === "editMessageText" && String(c.params.text).includes(last) && /delivered/.test(String(c.params.text)), { since });
    const items = await listItems(h!.app!.db);
    expect(items.map((i) => [i.url, i.status])).toEqual([
      [page, "completed"],
      ...clips.map((c) => [c.url, "completed"]),
    ]);
    expect(h!.files.requests.some((r) => r.path === "/img/blank.gif" || r.path === "/js/lazysizes.js")).toBe(false);
  });

  it("delivers only the one video whose button was pressed", { timeout: 60_000 }, async () => {
    const { clips, page } = await gallery();
    const since = h!.api.nextSeq;
    h!.send(`/download ${page}`);
    const asked = messageIdOf(await question(since));
    await press(asked, /^3\. Interview/);
    expect(await delivered(1, since)).toEqual([["sendVideo", clips[2]!.sha256]]);
    expect(h!.textOf(asked)).toBe("✓ #1 Clips of the week: Interview, each to come as a download of its own.");
    expect(String((await h!.reply(since, CHAT, /chosen/)).params.text)).toBe("📄 <b>Clips of the week</b>: 1 video chosen, queued.");
    expect((await listItems(h!.app!.db)).map((i) => [i.url, i.status])).toEqual([
      [page, "completed"],
      [clips[2]!.url, "completed"],
    ]);
    // The other clips were pre-checked once for the question, never fetched.
    expect(h!.files.requests.filter((r) => r.method === "GET" && r.path.startsWith("/clips/")).map((r) => r.path)).toEqual(["/clips/three.mp4"]);
    // A late press of "All" (a client that still shows the buttons) changes nothing.
    const before = h!.api.nextSeq;
    h!.api.pressButton(CHAT, asked, "c:g:1", { fromId: USER, force: true });
    const answer = await h!.api.waitForCall((c) => c.method === "answerCallbackQuery", { since: before });
    expect(answer.params.text).toMatch(/answered already/);
    expect(h!.uploads()).toHaveLength(1);
  });

  it("without asking (the chat's 'never'), takes all four as before, without a question", { timeout: 60_000 }, async () => {
    const { clips, page } = await gallery({ askBeforeDownload: "never" });
    const since = h!.api.nextSeq;
    h!.send(`/download ${page}`);
    expect(await delivered(4, since)).toEqual(sorted(clips));
    expect(h!.api.calls.some((c) => /which should come/.test(String(c.params.text)))).toBe(false);
  });

  it("goes on by itself as without a question when nobody chooses in time, and says so", { timeout: 60_000 }, async () => {
    const { clips, page } = await gallery({ chooseTimeoutMs: 1500 });
    const since = h!.api.nextSeq;
    h!.send(`/download ${page}`);
    const asked = messageIdOf(await question(since));
    // 1500 ms, shown rounded: "1s" or "2s" depending on when the text is made.
    expect(h!.textOf(asked)).toMatch(/Without a choice within [12]s, it goes on with all of them\.$/);
    expect(await delivered(4, since)).toEqual(sorted(clips));
    expect(h!.textOf(asked)).toBe("⏱ #1 Clips of the week: nobody chose in time, so it goes on with all of them. Back in line.");
  });
});

describe("a JW Player playlist page", () => {
  it("delivers its one video without asking", { timeout: 60_000 }, async () => {
    h = await Harness.create();
    const video = h.files.addFile("/media/talk.mp4", playableMp4(70), { contentType: "video/mp4" });
    // As server code writes the setup: JSON, with quoted keys and escaped slashes; captions and a poster beside the video.
    const page = h.files.addHtml(
      "/talks/42.html",
      `<!doctype html><html><head><title>The talk</title></head><body><div id="player"></div>
       <script>jwplayer("player").setup({"playlist":[{"title":"The talk","image":"\\/media\\/poster.jpg","sources":[{"file":"\\/media\\/talk.mp4","type":"mp4","label":"360p"}],"tracks":[{"file":"\\/media\\/talk.vtt","kind":"captions"}]}],"width":"100%"});</script>
       </body></html>`,
    );
    await h.start();
    const since = h.api.nextSeq;
    h.send(`/download ${page}`);
    const upload = await h.upload(since);
    expect(upload.method).toBe("sendVideo");
    expect(upload.files[0]!.sha256).toBe(video.sha256);
    expect(upload.files[0]!.filename).toBe("The talk.mp4");
    await h.waitForText(await h.progressMessageId(since), /delivered/, since);
    expect(h.uploads()).toHaveLength(1);
    expect(h.api.calls.some((c) => /which should come/.test(String(c.params.text)))).toBe(false);
    expect(h.files.requests.some((r) => r.path === "/media/poster.jpg" || r.path === "/media/talk.vtt")).toBe(false);
  });
});
