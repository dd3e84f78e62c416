import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { Harness } from "./harness.ts";

/**
 * The bot as `npm start` runs it: a separate Node process reading a config file, so restarts,
 * `kill -9`, signals and exit codes are real.
 */
export const ROOT = path.resolve(import.meta.dirname, "../..");

export interface Running {
  child: ChildProcess;
  /** stdout and stderr, interleaved as they came. */
  output: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The V8 flags `npm start` gives this Node version: a flag the Node in use refuses fails every test here. */
const START_FLAGS = spawnSync(process.execPath, ["scripts/node-flags.mjs"], { cwd: ROOT, encoding: "utf8" }).stdout.trim().split(/\s+/).filter(Boolean);

/** What `npm start` does first: builds the JavaScript when a source is newer than the last build. */
export function buildIfStale(): void {
  const build = spawnSync(process.execPath, ["scripts/build.mjs", "--if-stale"], { cwd: ROOT, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`the build failed:\n${build.stdout}${build.stderr}`);
}

export function startProcess(env: Record<string, string>): Running {
  const child = spawn(process.execPath, [...START_FLAGS, "dist/src/main.js"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => {
    out += d.toString();
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, stderr: () => err, exited };
}

/**
 * After a test of bot processes: kills those still running and closes the harness. Resolves
 * with undefined, for the test file's `h` (`h = await endTest(children, h)`).
 */
export async function endTest(children: ChildProcess[], harness: Harness | undefined): Promise<undefined> {
  killLeftovers(children);
  await harness?.close();
  return undefined;
}

/** Kills (SIGKILL) every bot process a test started that is still running, and forgets them. */
export function killLeftovers(children: ChildProcess[]): void {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

/** Writes the harness's config (debug logging) to a file in its data directory. */
export async function writeConfig(harness: Harness, overrides: Record<string, unknown> = {}): Promise<string> {
  const file = path.join(harness.dataDir, "config.json");
  await writeFile(file, JSON.stringify({ ...harness.configInput, logLevel: "debug", ...overrides }));
  return file;
}

/** Starts the bot process and resolves once it polls Telegram (or fails with its output). */
export async function startBot(harness: Harness, configFile: string, children: ChildProcess[], env: Record<string, string> = {}): Promise<Running> {
  const since = harness.api.nextSeq;
  const running = startProcess({ ...env, CONFIG_FILE: configFile });
  children.push(running.child);
  await Promise.race([
    harness.api.waitForCall((c) => c.method === "getUpdates", { since, timeoutMs: 20_000 }),
    running.exited.then(() => {
      throw new Error(`the bot exited at start:\n${running.output()}`);
    }),
  ]).catch((error: Error) => {
    throw new Error(`${error.message}\n--- bot output ---\n${running.output()}`);
  });
  return running;
}
