import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findItem } from "../../src/db/item-repository.ts";
import { DownloadError } from "../../src/errors.ts";
import type { Item } from "../../src/items/item.ts";
import { createHttpClient } from "../../src/net/http-client.ts";
import { type QueueEvent, QueueEvents } from "../../src/queue/events.ts";
import { createDirectSource } from "../../src/sources/direct-source.ts";
import { createSiteSource } from "../../src/sources/site-source.ts";
import type { Source, SourceContext, SourceResult } from "../../src/sources/source.ts";
import { FileServer } from "../support/file-server.ts";
import { QueueWorld, type Report } from "../support/queue-world.ts";

/**
 * The queue's event stream as a subscriber sees it: the exact sequence for each way an item can
 * go, with the runs of progress events (how many depends on timing) counted as one.
 */
let world: QueueWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** The item's events in order, each run of progress events as one `progress:<phases it went through>`. */
function sequence(reports: readonly Report[], item: Item): string[] {
  const out: string[] = [];
  for (const r of reports.filter((x) => x.item.id === item.id)) {
    if (r.event !== "progress") {
      out.push(r.event === "stopped" ? `stopped:${r.reason}` : r.event);
      continue;
    }
    // A tick of the progress timer may come before the handler said anything: the run was
    // still "starting" then, which is timing, not sequence.
    if (r.state.phase === "starting") continue;
    const last = out.at(-1);
    const phases = last?.startsWith("progress:") ? last.slice(9).split(",") : [];
    if (phases.at(-1) !== r.state.phase) phases.push(r.state.phase);
    if (last?.startsWith("progress:")) out[out.length - 1] = `progress:${phases.join(",")}`;
    else out.push(`progress:${phases.join(",")}`);
  }
  return out;
}

describe("the queue's events", () => {
  it("a delivered item: started, its progress through the phases, delivered", async () => {
    world = await QueueWorld.create();
    await world.worker.start();
    const item = await world.add("a.bin");
    await world.recorder.next((r) => r.event === "delivered");
    expect(sequence(world.recorder.reports, item)).toEqual(["started", "progress:downloading,uploading", "delivered"]);
    expect(world.recorder.reports.find((r) => r.event === "started")).toMatchObject({ state: { attempt: 1, phase: "starting" } });
  });

  it("a retried item: its failed attempt, then a second one that delivers", async () => {
    world = await QueueWorld.create({ retryDelaysMs: [0] });
    let fail = true;
    world.source.behaviour = async (ctx) => {
      if (fail) {
        fail = false;
        throw new DownloadError("NETWORK", "reset", { retryable: true, reason: { kind: "connectionFailed", host: "files.example", code: "ECONNRESET" } });
      }
      return world!.source.writeUrl(ctx);
    };
    await world.worker.start();
    const item = await world.add("flaky.bin");
    await world.recorder.next((r) => r.event === "delivered");
    expect(sequence(world.recorder.reports, item)).toEqual([
      "started",
      "progress:downloading",
      "retrying",
      "started",
      "progress:downloading,uploading",
      "delivered",
    ]);
    const starts = world.recorder.reports.flatMap((r) => (r.event === "started" ? [r.state.attempt] : []));
    expect(starts).toEqual([1, 2]);
  });

  it("a cancelled item: started, progress, stopped by the cancel, and nothing after", async () => {
    world = await QueueWorld.create();
    world.source.gate();
    await world.worker.start();
    const item = await world.add("big.bin");
    await world.source.running(item.id);
    expect(await world.control.cancel(item.id, item.chatId)).toMatchObject({ ok: true });
    await world.recorder.next((r) => r.event === "stopped");
    // Nothing after the stop: another item runs to its end, and the cancelled one said nothing more.
    world.source.open();
    const next = await world.add("next.bin");
    await world.recorder.next((r) => r.event === "delivered" && r.item.id === next.id);
    expect(sequence(world.recorder.reports, item)).toEqual(["started", "progress:downloading", "stopped:cancel"]);
    expect(world.recorder.reports.find((r) => r.event === "stopped")).toMatchObject({ wasRunning: true, item: { status: "cancelled" } });
  });

  it("a rerouted page: one start, the page handler's run, done with its summary", async () => {
    const page: Source = {
      kind: "crawler",
      async download(ctx) {
        ctx.progress({ bytesDone: 0, totalBytes: null });
        return { kind: "done", summary: { kind: "found", tally: { found: 2, added: 2, overCap: 0, cap: 50, tooLarge: 0, alreadyQueued: 0, refused: 0 } } };
      },
    };
    world = await QueueWorld.create({ sources: { crawler: page } });
    world.source.behaviour = async () => ({ kind: "reroute", sourceKind: "crawler" });
    await world.worker.start();
    const item = await world.add("index.html");
    const done = await world.recorder.next((r) => r.event === "done");
    expect(sequence(world.recorder.reports, item)).toEqual(["started", "progress:downloading", "done"]);
    expect(done).toMatchObject({ message: "2 files found, all queued.", item: { status: "completed", sourceKind: "crawler" } });
  });
});

describe("the direct source's reroutes to a stream and to a site", () => {
  let server: FileServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  /** A source whose every run is written down as `kind:path`. */
  function traced(source: Source, trace: string[]): Source {
    return {
      kind: source.kind,
      download(ctx) {
        trace.push(`${source.kind}:${new URL(ctx.item.url).pathname}`);
        return source.download(ctx);
      },
    };
  }

  /** What a stream or site source hands over: one file of its own making. */
  async function made(ctx: SourceContext, text: string): Promise<SourceResult> {
    const file = path.join(ctx.dir, "made.mp4");
    await writeFile(file, text);
    ctx.progress({ bytesDone: text.length, totalBytes: text.length });
    return { kind: "files", files: [{ path: file, name: "made.mp4", size: text.length }] };
  }

  /**
   * The real direct source against a local server, with a stream source and the real site source
   * around a stand-in for yt-dlp: links under /watch/ are a site's, and `found` says whether
   * yt-dlp finds a video there.
   */
  async function rerouting(found: boolean) {
    server = await FileServer.start();
    const trace: string[] = [];
    const direct = createDirectSource({
      http: createHttpClient({ allowPrivateNetworks: true }),
      limits: { stallTimeoutMs: 5000 },
      streams: true,
      sites: async (url) => new URL(url).pathname.startsWith("/watch/"),
    });
    const stream: Source = { kind: "stream", download: (ctx) => made(ctx, "the joined stream") };
    const site = createSiteSource(async (ctx) => (found ? made(ctx, "yt-dlp's video") : null));
    world = await QueueWorld.create({
      sources: { direct: traced(direct, trace), stream: traced(stream, trace), site: traced(site, trace) },
    });
    await world.worker.start();
    return { trace, server };
  }

  it("a manifest: direct reads the response and hands it to the stream source, which delivers", async () => {
    const { trace, server } = await rerouting(true);
    const manifest = server.addFile("/live/index.m3u8", Buffer.from("#EXTM3U\n#EXT-X-ENDLIST\n"), { contentType: "application/vnd.apple.mpegurl" });
    const item = await world!.add("index.m3u8", 1, manifest.url);
    await world!.recorder.next((r) => r.event === "delivered");
    expect(trace).toEqual(["direct:/live/index.m3u8", "stream:/live/index.m3u8"]);
    expect(sequence(world!.recorder.reports, item)).toEqual(["started", "progress:downloading,uploading", "delivered"]);
    expect(await findItem(world!.db, item.id)).toMatchObject({ status: "completed", sourceKind: "stream" });
    expect(world!.uploads).toEqual([{ itemId: item.id, name: "made.mp4", bytes: "the joined stream" }]);
  });

  it("a site yt-dlp knows: handed to the site source before anything is fetched", async () => {
    const { trace, server } = await rerouting(true);
    const item = await world!.add("clip", 1, `${server.baseUrl}/watch/clip`);
    await world!.recorder.next((r) => r.event === "delivered");
    expect(trace).toEqual(["direct:/watch/clip", "site:/watch/clip"]);
    expect(server.requests).toEqual([]);
    expect(sequence(world!.recorder.reports, item)).toEqual(["started", "progress:downloading,uploading", "delivered"]);
    expect(await findItem(world!.db, item.id)).toMatchObject({ status: "completed", sourceKind: "site" });
    expect(world!.uploads).toEqual([{ itemId: item.id, name: "made.mp4", bytes: "yt-dlp's video" }]);
  });

  it("a site link yt-dlp finds nothing at: back to direct, which fetches it itself instead of asking yt-dlp again", async () => {
    const { trace, server } = await rerouting(false);
    const file = server.addFile("/watch/plain.bin", Buffer.from("a plain file"));
    const item = await world!.add("plain.bin", 1, file.url);
    await world!.recorder.next((r) => r.event === "delivered");
    expect(trace).toEqual(["direct:/watch/plain.bin", "site:/watch/plain.bin", "direct:/watch/plain.bin"]);
    expect(sequence(world!.recorder.reports, item)).toEqual(["started", "progress:downloading,uploading", "delivered"]);
    expect(await findItem(world!.db, item.id)).toMatchObject({ status: "completed", sourceKind: "direct" });
    expect(world!.uploads).toEqual([{ itemId: item.id, name: "plain.bin", bytes: "a plain file" }]);
  });
});

describe("QueueEvents", () => {
  it("hands every event to each listener in order; one that throws neither stops the others nor the emitter", () => {
    const events = new QueueEvents();
    const heard: string[] = [];
    events.on("delivered", () => {
      throw new Error("a presenter's bug");
    });
    events.onAny((e) => heard.push(`any:${e.type}`));
    const stop = events.on("failed", (e) => heard.push(`failed:${e.error.code}`));
    const item = { id: 1 } as Item;
    const delivered: QueueEvent = { type: "delivered", item, bytes: 1, files: 1 };
    events.emit(delivered);
    events.emit({ type: "failed", item, error: new DownloadError("HTTP_PERMANENT", "404") });
    stop();
    events.emit({ type: "failed", item, error: new DownloadError("HTTP_PERMANENT", "404") });
    expect(heard).toEqual(["any:delivered", "any:failed", "failed:HTTP_PERMANENT", "any:failed"]);
  });

  it("emitAndWait waits for what listeners return (a notice that must land before the files), and never rejects", async () => {
    const events = new QueueEvents();
    const order: string[] = [];
    let send!: () => void;
    events.on("notice", () => new Promise<void>((r) => (send = () => {
      order.push("notice sent");
      r();
    })));
    events.on("notice", () => Promise.reject(new Error("a second listener failed")));
    const item = { id: 1 } as Item;
    const waited = events.emitAndWait({ type: "notice", item, notice: { kind: "files-skipped", title: "t", tooLarge: [], empty: [], limitBytes: 1 } }).then(() => order.push("source goes on"));
    await Promise.resolve();
    expect(order).toEqual([]);
    send();
    await waited;
    expect(order).toEqual(["notice sent", "source goes on"]);
  });
});
