import { afterEach, describe, expect, it } from "vitest";
import { FileServer } from "../support/file-server.ts";
import { CHAT, Harness } from "../support/harness.ts";
import { WebClient, freePort } from "../support/web-client.ts";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function world(): Promise<{ h: Harness; web: WebClient }> {
  h = await Harness.create({ web: { port: await freePort() } });
  return { h, web: new WebClient(`http://127.0.0.1:${h.config.web.port}`) };
}

/** One sample of the Prometheus text, by its name and labels as written (`name{a="b"}`). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("/healthz", () => {
  it("answers 200 while the database answers and the bot polls, and 503 once polling stopped", async () => {
    const { h, web } = await world();
    await h.start();
    await h.api.waitForPendingPoll();
    const healthy = await web.get("/healthz");
    expect([healthy.status, healthy.body]).toEqual([200, { status: "ok", database: "ok", polling: "ok" }]);

    // Telegram stops taking the token: the next poll is refused and polling ends for good.
    h.api.failNext("getUpdates", { error_code: 401, description: "Unauthorized" });
    h.send("/status");
    await h.app!.stopped;
    const stopped = await web.get("/healthz");
    expect([stopped.status, stopped.body]).toEqual([503, { status: "unhealthy", database: "ok", polling: "stopped" }]);
  });
});

describe("/metrics", () => {
  it("counts a delivered item's bytes, items by status, failures by code and Telegram's errors by method", async () => {
    const { h, web } = await world();
    const file = h.files.addFile("/m/report.bin", FileServer.randomBytes(300_000, 11));
    h.files.throttle("/m/report.bin", 400_000);
    const gone = h.files.addFile("/m/gone.bin", FileServer.randomBytes(1000, 12));
    h.files.fault("/m/gone.bin", { kind: "status", status: 410 });
    h.api.failNext("setMyCommands", { error_code: 400, description: "Bad Request: BOT_COMMAND_INVALID" });
    await h.start();

    const before = (await web.get("/metrics")).body as string;
    expect(sample(before, "dlbot_uploaded_bytes_total")).toBe(0);
    expect(sample(before, 'dlbot_telegram_api_errors_total{method="setMyCommands",code="400"}')).toBe(1);

    const since = h.api.nextSeq;
    h.send(`/download ${file.url}`);
    // Half-way (over half a second in): the running item has a speed.
    await h.files.waitForBytes("/m/report.bin", 220_000);
    const running = (await web.get("/metrics")).body as string;
    expect(sample(running, 'dlbot_running_item_bytes_per_second{phase="downloading"}')).toBeGreaterThan(50_000);
    expect(sample(running, 'dlbot_items{status="downloading"}')).toBe(1);
    const upload = await h.upload(since);
    expect(upload.files[0]!.sha256).toBe(file.sha256);
    h.send(`/download ${gone.url}`);
    await h.api.waitForCall((c) => c.method === "sendMessage" && /410|Gone/.test(String(c.params.text)), { since });

    const metrics = await web.get("/metrics");
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = metrics.body as string;
    expect(sample(text, "dlbot_uploaded_bytes_total")).toBe(300_000);
    expect(sample(text, "dlbot_downloaded_bytes_total")).toBe(300_000);
    expect(sample(text, 'dlbot_items{status="completed"}')).toBe(1);
    expect(sample(text, 'dlbot_items{status="failed"}')).toBe(1);
    expect(sample(text, 'dlbot_items{status="queued"}')).toBe(0);
    expect(sample(text, "dlbot_queue_length")).toBe(0);
    expect(sample(text, 'dlbot_failures_total{code="HTTP_PERMANENT",final="true"}')).toBe(1);
    // Nothing runs now: no speed to report.
    expect(text).toMatch(/# TYPE dlbot_running_item_bytes_per_second gauge\n(?!dlbot_running)/);
    expect(CHAT).toBe(upload.params.chat_id);
  });
});
