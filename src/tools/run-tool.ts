import { spawn } from "node:child_process";
import path from "node:path";
import { ToolError } from "../errors.ts";
import type { ToolProcesses } from "./tool-processes.ts";

/**
 * The one way the bot runs an external tool (ffmpeg, ffprobe, yt-dlp, yt-dlp's Python): fenced in
 * with a time limit, an AbortSignal, bounded output, a minimal environment, a stall watchdog and
 * a process group of its own that a kill takes whole.
 */

/** What a tool's failure comes down to, for the log: the last line it wrote to stderr. */
export function toolErrorDetail(error: unknown): string {
  if (error instanceof ToolError) return error.stderr.trim().split("\n").pop() || error.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * The whole environment a tool gets besides what its caller passes: where programs are, a home
 * and the language. Nothing else of the bot's own (its token, its config, proxy variables such as
 * `no_proxy` that would let a tool connect past the guard) reaches a child. Pure.
 */
export function toolEnvironment(extra: Record<string, string> = {}, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "LANG"]) {
    const value = from[key];
    if (value !== undefined) env[key] = value;
  }
  return { ...env, ...extra };
}

/** Most a tool may write to its stdout (the JSON of a long playlist is a few MB). */
export const MAX_TOOL_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface RunToolOptions {
  signal?: AbortSignal;
  /** Longest the whole run may take. */
  timeoutMs: number;
  /** The error the time limit fails with (default: a ToolError saying so). */
  timeoutError?: () => Error;
  /** Variables besides PATH, HOME and LANG (see `toolEnvironment`). */
  env?: Record<string, string>;
  /** Hands stdout over line by line (progress) instead of collecting it. */
  onLine?: (line: string) => void;
  /** Most stdout bytes collected (or most bytes in one line with `onLine`); more fails the run. */
  maxOutputBytes?: number;
  /** Fails the run when the tool writes nothing to stdout for this long (tools that print progress). */
  stallMs?: number;
  /** The error a stall fails with (default: a ToolError saying so). */
  stallError?: () => Error;
  /** Where the running tools are recorded, so the next start can end them after a crash. */
  processes?: ToolProcesses | undefined;
}

/**
 * Runs a tool to its end: resolves with its stdout, rejects on a non-zero exit, on the time limit,
 * a stall, too much output or on abort. The tool runs in a process group of its own, so a kill
 * takes its children too, with nothing of the bot's environment but PATH, HOME and LANG.
 */
export function runTool(bin: string, args: string[], options: RunToolOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(options.signal.reason);
    const name = path.basename(bin);
    const maxOutput = options.maxOutputBytes ?? MAX_TOOL_OUTPUT_BYTES;
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, env: toolEnvironment(options.env) });
    if (child.pid) options.processes?.add(child.pid, name);
    const chunks: Buffer[] = [];
    let collected = 0;
    let stderr = "";
    let why: unknown;
    const kill = (reason: unknown) => {
      why ??= reason;
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    let stallTimer: NodeJS.Timeout | undefined;
    const watchStall = () => {
      if (!options.stallMs) return;
      clearTimeout(stallTimer);
      const ms = options.stallMs;
      stallTimer = setTimeout(() => kill(options.stallError?.() ?? new ToolError(`${name} showed no progress for ${Math.round(ms / 1000)} s`, stderr)), ms);
    };
    watchStall();
    child.stdout.on("data", (d: Buffer) => {
      watchStall();
      collected += d.length;
      chunks.push(d);
      if (options.onLine && d.includes(10)) {
        // Whole lines go to the caller; only the unfinished last one stays, as bytes (a chunk may
        // end inside a character).
        const all = Buffer.concat(chunks);
        const end = all.lastIndexOf(10);
        chunks.length = 0;
        chunks.push(all.subarray(end + 1));
        collected = all.length - end - 1;
        for (const line of all.subarray(0, end).toString().split("\n")) options.onLine(line);
      }
      if (collected > maxOutput) kill(new ToolError(`${name} wrote more than ${Math.round(maxOutput / 1024)} kB to its output${options.onLine ? " in one line" : ""}`, stderr));
    });
    // Only the tail matters for a failure report.
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const timer = setTimeout(() => kill(options.timeoutError?.() ?? new ToolError(`${name} took longer than ${options.timeoutMs} ms`, stderr)), options.timeoutMs);
    const onAbort = () => kill(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const settle = () => {
      clearTimeout(timer);
      clearTimeout(stallTimer);
      options.signal?.removeEventListener("abort", onAbort);
      if (child.pid) options.processes?.remove(child.pid);
    };
    child.once("error", (error) => {
      settle();
      reject(error);
    });
    // What the tool started and left behind (its group) ends with it: nothing it spawned runs on,
    // or holds its output open, once it is done.
    child.once("exit", () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is empty: nothing was left behind
      }
    });
    child.once("close", (code) => {
      settle();
      if (why !== undefined) return reject(why);
      const stdout = Buffer.concat(chunks).toString();
      if (options.onLine && stdout) options.onLine(stdout);
      if (code === 0) return resolve(options.onLine ? "" : stdout);
      reject(new ToolError(`${name} exited with ${code}`, stderr));
    });
  });
}
