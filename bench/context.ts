/**
 * What every bench case shares: the run's settings, nginx and the Bot API double, the bot's
 * config, and where results go (a table row with its peer, a note, a missed target). Each case
 * lives in `bench/cases/` and is called by `bench/run.ts` in turn.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import type { BotApiDouble, RecordedCall } from "../test/support/bot-api-double.ts";
import { MB, type Nginx } from "./peers.ts";

export const QUICK = process.env.BENCH_QUICK === "1";
export const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 1 : 3));
export const CHAT = 1;

export interface Row {
  what: string;
  bot: number;
  peer: string;
  peerValue: number;
  /** bot / peer, in the direction where more is better. */
  ratio: number;
  target: string;
  ok: boolean | null;
}

export class Results {
  readonly rows: Row[] = [];
  readonly notes: string[] = [];
  readonly failures: string[] = [];
  /** Every measurement, printed with BENCH_RAW=1. */
  readonly raw: Record<string, number[]> = {};

  /** A table row: the bot's value against its peer's, more is better; `target.min` on the ratio. */
  row(what: string, bot: number, peer: string, peerValue: number, target?: { min: number; label: string }): void {
    const ratio = bot / peerValue;
    const ok = target ? ratio >= target.min : null;
    this.rows.push({ what, bot, peer, peerValue, ratio, target: target?.label ?? "", ok });
    if (ok === false) this.failures.push(`${what}: ${ratio.toFixed(2)}x ${peer}, target ${target!.label}`);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  fail(text: string): void {
    this.failures.push(text);
  }

  /** A peak or idle memory figure, noted, and a failure when it is not under `limitMb`. */
  memory(what: string, mb: number, limitMb: number): void {
    this.notes.push(`${what}: ${mb.toFixed(0)} MB (target < ${limitMb} MB)`);
    if (!(mb < limitMb)) this.failures.push(`${what}: ${mb.toFixed(0)} MB, target < ${limitMb} MB`);
  }
}

export interface BenchContext {
  /** The run's scratch folder (removed at the end). */
  dir: string;
  /**
   * What nginx serves: `/files/<name>` at full speed, `/limited/<name>` at `limit` per connection,
   * `/uneven/<name>` with only the first connection held to UNEVEN_RATE_MB.
   */
  root: string;
  nginx: Nginx;
  /** The Bot API double in cloud mode (limit 2000 MB), chat CHAT already open. */
  api: BotApiDouble;
  /** nginx's per-connection limit for /limited/. */
  limit: string;
  /** A bot config in its own data folder `name`, with `extra` on top. */
  botConfig(name: string, extra?: Record<string, unknown>): Record<string, unknown>;
  results: Results;
}

export const mbps = (bytes: number, seconds: number) => bytes / MB / seconds;

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Sends /download and waits until everything it delivers is up; returns the upload calls. */
export async function botDelivers(api: BotApiDouble, url: string, parts = 1, command = "/download"): Promise<RecordedCall[]> {
  const since = api.nextSeq;
  api.sendText(CHAT, `${command} ${url}`);
  const uploads: RecordedCall[] = [];
  let files = 0;
  while (files < parts) {
    const call = await api.waitForCall(
      (c) => (c.method === "sendDocument" || c.method === "sendMediaGroup" || c.method === "sendVideo") && c.response?.ok === true && !uploads.includes(c),
      { since, timeoutMs: 900_000 },
    );
    uploads.push(call);
    // By path (a local Bot API server) a call carries no file part: count what it names.
    files += call.method === "sendMediaGroup" ? (call.params.media as unknown[]).length : 1;
  }
  return uploads;
}

export async function dropUploads(calls: RecordedCall[]): Promise<void> {
  for (const call of calls) for (const f of call.files) await rm(f.path, { force: true });
}

/** When nginx sent the last byte of a tagged download (ms since the epoch). */
export async function downloadEnd(nginx: Nginx, tag: string): Promise<number> {
  return Math.max(...(await nginx.served(tag)).filter((s) => s.request.startsWith("GET ")).map((s) => s.end));
}

