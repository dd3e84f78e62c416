import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { unreadableDash } from "./stream-manifest.ts";

/** mpd-parser's own file, for the worker to load (it is CommonJS). */
const PARSER = createRequire(import.meta.url).resolve("mpd-parser");

const SCRIPT = `
const { parentPort, workerData } = require("node:worker_threads");
const { parse } = require(workerData.parser);
parentPort.postMessage(parse(workerData.text, { manifestUri: workerData.url }));
`;

/**
 * mpd-parser expands a manifest's segment templates into one object per segment, in one
 * synchronous loop: a few hostile bytes (an `endNumber` of two billion, a year-long period of
 * 1 ms segments) would fill the heap or hold the event loop, and an out-of-memory crash is not
 * an exception anyone can catch. So the expansion runs in a worker thread with a heap of its own
 * and a deadline: a manifest that overruns either is refused, and the bot runs on.
 */
export function parseMpdIsolated(text: string, url: string, limits: { timeoutMs?: number; heapMb?: number } = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(SCRIPT, {
      eval: true,
      workerData: { text, url, parser: PARSER },
      resourceLimits: { maxOldGenerationSizeMb: limits.heapMb ?? 128, maxYoungGenerationSizeMb: 16 },
      stdout: true,
      stderr: true,
    });
    let settled = false;
    const settle = (error: unknown, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      if (error === undefined) resolve(value);
      else reject(unreadableDash(error));
    };
    const timer = setTimeout(() => settle(new Error("expanding the manifest took too long")), limits.timeoutMs ?? 10_000);
    worker.once("message", (value) => settle(undefined, value));
    worker.once("error", (error) => settle(error));
    worker.once("exit", (code) => settle(new Error(`the parser stopped (${code})`)));
  });
}
