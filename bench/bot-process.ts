/**
 * The bot as `npm start` runs it (node dist/src/main.js, built first when stale), as its own
 * process, so its memory and CPU are its own and not the bench's. Read from /proc (Linux).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createWriteStream, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { BotApiDouble } from "../test/support/bot-api-double.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
// @ts-expect-error: a plain .mjs script without types, shared with npm start.
const { nodeFlags } = (await import("../scripts/node-flags.mjs")) as { nodeFlags: () => string[] };
/** The Node flags `npm start` gives the bot. */
const START_FLAGS = nodeFlags();
const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** `BENCH_BOT_ENV="A=1 B=2"`: more environment for the bot, to try allocator settings and the like. */
function envOf(text = ""): Record<string, string> {
  return Object.fromEntries(text.split(" ").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
}

export function buildOnce(): void {
  const build = spawnSync(process.execPath, ["scripts/build.mjs", "--if-stale"], { cwd: ROOT, stdio: "inherit" });
  if (build.status !== 0) throw new Error("the build failed");
}

export class BotProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  static async start(api: BotApiDouble, dir: string, config: Record<string, unknown>): Promise<BotProcess> {
    const configFile = path.join(dir, `config-${Date.now()}.json`);
    await writeFile(configFile, JSON.stringify({ botToken: api.token, apiRoot: api.apiRoot, ...config }));
    const logFile = path.join(dir, `bot-${Date.now()}.log`);
    const log = createWriteStream(logFile);
    const since = api.nextSeq;
    // The Node flags `npm start` gives the bot, and BENCH_NODE_FLAGS to try others (e.g. --cpu-prof).
    const flags = [...START_FLAGS, ...(process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean)];
    const child = spawn(process.execPath, [...flags, "dist/src/main.js"], {
      cwd: ROOT,
      // As npm start and the Docker image run it: two malloc arenas, not one per thread that allocates.
      env: { PATH: process.env.PATH ?? "", CONFIG_FILE: configFile, MALLOC_ARENA_MAX: "2", ...envOf(process.env.BENCH_BOT_ENV) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const bot = new BotProcess(child, logFile);
    await Promise.race([
      api.waitForCall((c) => c.method === "getUpdates", { since, timeoutMs: 30_000 }),
      new Promise((_, reject) => child.once("exit", () => reject(new Error(`the bot exited at start; see ${logFile}`)))),
    ]);
    return bot;
  }

  private status(): string {
    return readFileSync(`/proc/${this.pid}/status`, "utf8");
  }

  private statusMb(field: string): number {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(this.status());
    return m ? Number(m[1]) / 1024 : NaN;
  }

  /** Resident memory now. */
  rssMb(): number {
    return this.statusMb("VmRSS");
  }

  /** The highest resident memory since the start or the last resetPeak(). */
  peakMb(): number {
    return this.statusMb("VmHWM");
  }

  /** Starts a new peak from the current resident memory (Linux: clear_refs 5). */
  resetPeak(): void {
    writeFileSync(`/proc/${this.pid}/clear_refs`, "5");
  }

  /** CPU seconds used so far (user + system). */
  cpuSeconds(): number {
    const [user, system] = this.cpuTimes();
    return user! + system!;
  }

  /** CPU seconds used so far: [user, system]. */
  cpuTimes(): [number, number] {
    const fields = readFileSync(`/proc/${this.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    // utime and stime are fields 14 and 15 of stat; [0] here is field 3.
    return [Number(fields[11]) / CLOCK_TICKS, Number(fields[12]) / CLOCK_TICKS];
  }

  /** CPU seconds (user + system) per thread name: where a process's time went. */
  threadCpu(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const task of readdirSync(`/proc/${this.pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${this.pid}/task/${task}/stat`, "utf8");
        const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
      } catch {
        // The thread ended meanwhile.
      }
    }
    return out;
  }

  /** The log lines (JSON) written so far. */
  async logLines(): Promise<Array<Record<string, unknown> & { time: number; msg: string }>> {
    const text = await readFile(this.logFile, "utf8");
    return text
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown> & { time: number; msg: string });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    await exited;
  }
}
