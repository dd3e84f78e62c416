import { existsSync } from "node:fs";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { findItem } from "../../src/db/item-repository.ts";
import { chatStartParam } from "../../src/web/auth.ts";
import { initDataKey, signInitData } from "../../src/web/init-data.ts";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness, messageIdOf } from "../support/harness.ts";
import { TorrentSwarm } from "../support/torrent-swarm.ts";
import { freePort } from "../support/web-client.ts";

/** Debian's chromium, driven by playwright-core (no browser is ever downloaded; .ci/run installs it). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** A group the Mini App's user is a member of (asked of the double with getChatMember). */
const GROUP = -2001;
/** The Mini App's user: the person whose private chat with the bot is CHAT. */
const ME = CHAT;
const KB = 1024;
/** Telegram's dark theme, as a client passes it in the URL. */
const THEME = { bg_color: "#17212b", text_color: "#f5f5f5", hint_color: "#708499", button_color: "#5288c1", button_text_color: "#ffffff", secondary_bg_color: "#232e3c" };

let browser: Browser;
let h: Harness | undefined;
let swarm: TorrentSwarm | undefined;
let page: Page | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await page?.close();
  await h?.close();
  await swarm?.stop();
  page = undefined;
  h = undefined;
  swarm = undefined;
});

async function world(): Promise<{ h: Harness; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  h = await Harness.create({ allowedChatIds: [CHAT, GROUP], web: { port, publicUrl: base }, torrent: { dht: false, lsd: false, natTraversal: false } });
  // The person has a private chat with the bot (they opened the app from it), and is in the group.
  h.api.addChat(CHAT);
  h.api.setChatMember(GROUP, ME, "member");
  await h.start();
  return { h, base };
}

/** The page as Telegram opens it: initData (signed with `token`, made `ageS` ago) in the URL fragment. */
function miniAppUrl(base: string, token: string, opts: { ageS?: number; startParam?: string; userId?: number } = {}): string {
  const fields: Record<string, string> = {
    auth_date: String(Math.floor(Date.now() / 1000) - (opts.ageS ?? 5)),
    query_id: "AAHdF6IQAAAAAN0XohDhrOrc",
    user: JSON.stringify({ id: opts.userId ?? ME, first_name: "Ann", username: "ann", language_code: "en" }),
    ...(opts.startParam ? { start_param: opts.startParam } : {}),
  };
  const initData = new URLSearchParams({ ...fields, hash: signInitData(fields, initDataKey(token)) }).toString();
  const fragment = new URLSearchParams({ tgWebAppData: initData, tgWebAppVersion: "8.0", tgWebAppPlatform: "tdesktop", tgWebAppThemeParams: JSON.stringify(THEME) });
  return `${base}/app/#${fragment.toString()}`;
}

/** A phone-sized page that never reaches beyond loopback (Telegram's script is not fetched); every API answer recorded. */
async function openPage(url: string): Promise<{ page: Page; answers: Array<{ url: string; status: number }> }> {
  page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  await page.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => route.abort());
  const answers: Array<{ url: string; status: number }> = [];
  page.on("response", (res) => {
    if (res.url().includes("/api/")) answers.push({ url: res.url(), status: res.status() });
  });
  await page.goto(url);
  return { page, answers };
}

/** The running item's bar, as the browser has it (an expression run in the page). */
const BAR = `(document.querySelector("#running progress")?.value ?? 0)`;
const barValue = (p: Page) => p.evaluate<number>(BAR);

describe("the Mini App", () => {
  it("adds a link, shows it running with a moving progress bar in Telegram's colours; Cancel cancels it, in the database and the chat's live message", { timeout: 60_000 }, async () => {
    const { h, base } = await world();
    const file = h.files.addFile("/big/holiday.mp4.bin", FileServer.randomBytes(3_000_000, 31));
    h.files.throttle("/big/holiday.mp4.bin", 300_000);
    const { page } = await openPage(miniAppUrl(base, h.api.token));
    await page.locator("#main").waitFor();
    // Added with the page's field: the checks and answer of /download, in the private chat.
    const since = h.api.nextSeq;
    await page.locator("#link").fill(file.url);
    await page.locator("#add-button").click();
    await expect.poll(() => page.locator("#add-answer").textContent()).toBe("✓ Queued #1 holiday.mp4.bin: position 1.");
    const live = await h.progressMessageId(since);
    await page.locator("#running .item[data-id='1']").waitFor();
    expect(await page.locator("#running .title").textContent()).toBe("#1 holiday.mp4.bin");
    // Read as the page shows it (the page's policy forbids eval, so no waitForFunction).
    await expect.poll(() => barValue(page), { timeout: 15_000 }).toBeGreaterThan(0.05);
    const first = await barValue(page);
    await expect.poll(() => barValue(page), { timeout: 15_000 }).toBeGreaterThan(first + 0.05);
    expect(await page.locator("#running .stats").textContent()).toMatch(/^\d+(\.\d)? [KM]B \/ 2\.9 MB · \d+ KB\/s · ETA \d+s$/);
    expect(await page.evaluate<string>("getComputedStyle(document.body).backgroundColor")).toBe("rgb(23, 33, 43)");
    expect(await page.locator("#refused").isVisible()).toBe(false);

    // A picture of it, kept after the run (the harness's own folder goes).
    const shots = await mkdtemp(path.join(tmpdir(), "dlbot-mini-app-"));
    const shot = path.join(shots, "downloading.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect((await readFile(shot)).subarray(1, 4).toString()).toBe("PNG");
    console.info(`Mini App screenshot: ${shot}`);

    await page.locator("#running button[data-action='cancel']").click();
    expect(await h.waitForText(live, /cancelled/, since)).toBe("✖️ holiday.mp4.bin: cancelled");
    expect(await findItem(h.app!.db, 1)).toMatchObject({ status: "cancelled" });
    await page.locator("#history li[data-id='1'][data-status='cancelled']").waitFor();
    await page.locator("#running .empty").waitFor();
    expect(h.uploads()).toEqual([]);
  });

  it("lets a group member choose the files of a torrent that waits for a choice, and only those come", { timeout: 60_000 }, async () => {
    swarm = await TorrentSwarm.start();
    const seeded = await swarm.seed("pack", [
      { path: "pack/e01.mkv", bytes: FileServer.randomBytes(60 * KB, 501) },
      { path: "pack/e02.mkv", bytes: FileServer.randomBytes(90 * KB, 502) },
      { path: "pack/notes.txt", bytes: FileServer.randomBytes(10 * KB, 503) },
    ], { pieceLength: 16 * KB });
    const { h, base } = await world();
    const since = h.api.nextSeq;
    h.send(`/torrent ${seeded.magnetURI}`, GROUP);
    const asked = messageIdOf(await h.api.waitForCall((c) => c.method === "sendMessage" && c.params.chat_id === GROUP && /holds 3 files: which should come\?/.test(String(c.params.text)), { since }));

    // Opened from the group's link: the page acts as the group.
    const { page } = await openPage(miniAppUrl(base, h.api.token, { startParam: chatStartParam(GROUP) }));
    const card = page.locator("#choosing .item[data-id='1']");
    await card.waitFor();
    expect(await card.locator("input[type='checkbox']").count()).toBe(3);
    expect(await page.locator("#chat-picker option").allTextContents()).toEqual(["Private chat", `Group ${GROUP}`]);
    await card.locator("input[data-index='1']").uncheck();
    await card.locator("button.start").click();

    await h.api.waitForCall((c) => c.method === "editMessageText" && c.params.chat_id === GROUP && /delivered \(2 files/.test(String(c.params.text)), { since, timeoutMs: 30_000 });
    const sent = h.api.chat(GROUP).filter((m) => m.kind === "document");
    expect(sent.map((m) => [m.file_name, m.sha256]).sort()).toEqual([
      ["e01.mkv", seeded.files[0]!.sha256],
      ["notes.txt", seeded.files[2]!.sha256],
    ]);
    expect(await findItem(h.app!.db, 1)).toMatchObject({ chatId: GROUP, status: "completed", choice: { kind: "files", indices: [0, 2] } });
    // The chat's question says what was chosen, as when it is answered there.
    expect(h.textOf(asked, GROUP)).toBe("✓ #1 pack: 2 files, 70.0 KB. Back in line.");
    await page.locator("#history li[data-id='1'][data-status='completed']").waitFor();
    // Every request of the page acted as the group; Telegram was asked about the member once.
    expect(h.api.callsOf("getChatMember").map((c) => c.params)).toEqual([{ chat_id: GROUP, user_id: ME }]);
  });

  it("/app answers with a button that opens it: a Mini App button in a private chat, the bot's Mini App link naming the group in a group", async () => {
    const { h, base } = await world();
    for (const [chatId, button] of [
      [CHAT, { text: "📋 Open the queue", web_app: { url: `${base}/app/` } }],
      [GROUP, { text: "📋 Open the queue", url: `https://t.me/${h.api.botUser.username}?startapp=cm2001` }],
    ] as const) {
      const since = h.api.nextSeq;
      h.send("/app", chatId);
      const reply = await h.reply(since, chatId, /queue of this chat/);
      expect((reply.params.reply_markup as { inline_keyboard: unknown[][] }).inline_keyboard).toEqual([[button]]);
    }
  });

  it("gives forged, expired and missing initData the refusal page and no data", { timeout: 60_000 }, async () => {
    const { h, base } = await world();
    const secret = h.files.addFile("/secret-report.bin", FileServer.randomBytes(1000, 41));
    await h.app!.worker.pauseQueue();
    const since = h.api.nextSeq;
    h.send(`/download ${secret.url}`);
    await h.reply(since, CHAT, /Queued/);

    // The page asks who it is once, is refused, and asks nothing more.
    for (const [url, reason, statuses] of [
      [miniAppUrl(base, "654321:FORGED-token"), /not signed by this bot/, [401]],
      [miniAppUrl(base, h.api.token, { ageS: 2 * 86_400 }), /older than a day/, [401]],
      [`${base}/app/`, /not opened from Telegram/, []],
      // Signed right, by someone with no chat here (not allowed, in no allowed group).
      [miniAppUrl(base, h.api.token, { userId: 777 }), /none of the chats/, [403]],
    ] as const) {
      const { page, answers } = await openPage(url);
      await page.locator("#refused").waitFor();
      expect(await page.locator("#refused-reason").textContent()).toMatch(reason);
      expect(await page.locator("#main").isVisible()).toBe(false);
      expect(await page.content()).not.toContain("secret-report");
      expect(answers.map((a) => a.status)).toEqual(statuses);
      await page.close();
    }
    page = undefined;
  });
});
