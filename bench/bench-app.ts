import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type App, createApp } from "../src/app.ts";
import { parseConfig } from "../src/config.ts";
import { createLogger } from "../src/logger.ts";
import { BotApiDouble } from "../test/support/bot-api-double.ts";

export const BENCH_CHAT = 1;

/** The real app against a Bot API double, configured for one file of `size` bytes. */
export async function startBenchApp(size: number): Promise<{ app: App; api: BotApiDouble; close: () => Promise<void> }> {
  const api = await BotApiDouble.start({ maxUploadBytes: size + 1 });
  const dataDir = await mkdtemp(path.join(tmpdir(), "dlbot-bench-"));
  const config = parseConfig({
    botToken: api.token,
    apiRoot: api.apiRoot,
    allowedChatIds: [BENCH_CHAT],
    dataDir,
    maxFileSizeBytes: size + 1,
    progressIntervalMs: 1000,
    allowPrivateNetworks: true,
    logLevel: "warn",
    // Loopback only: no DHT, no local discovery, no port mapping.
    torrent: { dht: false, lsd: false, natTraversal: false },
  });
  const logger = createLogger({ level: "warn", secrets: [config.botToken] });
  const app = await createApp(config, { logger, freeBytes: async () => Number.MAX_SAFE_INTEGER });
  await app.start();
  return {
    app,
    api,
    close: async () => {
      await app.stop();
      await api.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Peak resident memory while `run` goes, above what it was at the start. */
export async function measureRssGrowth<T>(run: () => Promise<T>): Promise<{ result: T; growthMb: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  try {
    const result = await run();
    return { result, growthMb: (peak - before) / 1024 / 1024 };
  } finally {
    clearInterval(sampler);
  }
}
