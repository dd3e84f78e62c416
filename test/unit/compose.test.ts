import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { EXAMPLE_TOKEN, LOCAL_UPLOAD_LIMIT, parseConfig } from "../../src/config.ts";

/**
 * compose.yaml as Docker Compose resolves it with .env.example (Debian's docker-compose validates
 * and prints it without an engine), read back and checked for what makes local mode work: one
 * volume at one path in both services, the bot's config, its user, its wait for the server.
 */
const ROOT = path.resolve(import.meta.dirname, "../..");

/** The aiogram/telegram-bot-api image runs its server as this uid and gid ("telegram-bot-api"). */
const SERVER_UID = 101;
const SERVER = "telegram-bot-api";

interface Mount {
  source: string;
  target: string;
}
interface Service {
  image?: string;
  build?: unknown;
  user?: string;
  restart?: string;
  environment?: Record<string, string>;
  volumes?: (string | { type?: string; source: string; target: string })[];
  depends_on?: Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[] };
}
interface Resolved {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

function compose(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync("docker-compose", ["--env-file", ".env.example", "-f", "compose.yaml", ...args], {
    cwd: ROOT,
    // Nothing of this process's environment: what the file gets is .env.example's, and `env`'s.
    env: { PATH: process.env.PATH ?? "", ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  // Not installed is a failure, not a skip: .ci/run installs Debian's docker-compose.
  if (result.error) throw new Error(`docker-compose could not run: ${result.error.message} (apt-get install docker-compose)`);
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The resolved file; `env` overrides .env.example as the shell's variables do. */
function resolved(env: Record<string, string> = {}): Resolved {
  const result = compose(["config"], env);
  expect(result).toMatchObject({ code: 0, stderr: "" });
  return parse(result.stdout) as Resolved;
}

function service(file: Resolved, name: string): Service {
  const found = file.services[name];
  if (!found) throw new Error(`compose.yaml has no service "${name}" (it has ${Object.keys(file.services).join(", ")})`);
  return found;
}

/** A service's mounts, from the short ("src:target:mode") or the long syntax. */
function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== "string") return { source: v.source, target: v.target };
    const [source = "", target = ""] = v.split(":");
    return { source, target };
  });
}

function mountOf(s: Service, volume: string): Mount {
  const found = mounts(s).filter((m) => m.source === volume);
  expect(found, `one mount of ${volume}`).toHaveLength(1);
  return found[0]!;
}

/** The bot's config as the bot reads it: CONFIG_JSON through the real parseConfig, BOT_TOKEN from its environment. */
function botConfig(file: Resolved) {
  const env = service(file, "bot").environment ?? {};
  return parseConfig(JSON.parse(env.CONFIG_JSON ?? "null"), { BOT_TOKEN: env.BOT_TOKEN }, "CONFIG_JSON");
}

const TOKEN = "123456:compose-test-token";

describe("compose.yaml, resolved with .env.example", () => {
  it("is valid (docker-compose config -q), with every variable it needs set by .env.example", () => {
    expect(compose(["config", "-q"])).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("mounts the one data volume at the same path in the bot and the server", () => {
    const file = resolved();
    const server = mountOf(service(file, SERVER), "bot-data");
    const bot = mountOf(service(file, "bot"), "bot-data");
    expect(bot.target).toBe(server.target);
    expect(server.target).toBe("/var/lib/telegram-bot-api");
    expect(Object.keys(file.volumes ?? {})).toContain("bot-data");
  });

  it("gives the bot a local-mode config whose dataDir lies inside that volume, and the server --local", () => {
    const file = resolved({ BOT_TOKEN: TOKEN });
    const config = botConfig(file);
    expect(config.botToken).toBe(TOKEN);
    expect(config.localBotApi).toBe(true);
    expect(config.uploadLimitBytes).toBe(LOCAL_UPLOAD_LIMIT);
    expect(config.allowedChatIds).toEqual([1]);

    const mount = mountOf(service(file, "bot"), "bot-data").target;
    const inside = path.posix.relative(mount, config.dataDir);
    expect(path.posix.isAbsolute(config.dataDir)).toBe(true);
    expect(inside === "" || inside.startsWith("..") || path.posix.isAbsolute(inside), `${config.dataDir} inside ${mount}`).toBe(false);

    const api = new URL(config.apiRoot);
    expect(Object.keys(file.services)).toContain(api.hostname);
    expect(api.hostname).toBe(SERVER);
    expect(api.port).toBe("8081");

    expect(service(file, SERVER).environment).toMatchObject({ TELEGRAM_LOCAL: "1", TELEGRAM_API_ID: "0", TELEGRAM_API_HASH: "replace-with-your-api-hash" });
  });

  it("takes the chat ids from ALLOWED_CHAT_IDS, and leaves the example's placeholder token refused", () => {
    expect(botConfig(resolved({ BOT_TOKEN: TOKEN, ALLOWED_CHAT_IDS: "1,-1001234567890" })).allowedChatIds).toEqual([1, -1001234567890]);
    const example = resolved();
    expect(service(example, "bot").environment?.BOT_TOKEN).toBe(EXAMPLE_TOKEN);
    expect(() => botConfig(example)).toThrow(/"botToken": still the example's placeholder/);
  });

  it("runs the bot as the server's user, after the server is healthy, and restarts both", () => {
    const file = resolved();
    const bot = service(file, "bot");
    const server = service(file, SERVER);
    expect(bot.user).toBe(`${SERVER_UID}:${SERVER_UID}`);
    expect(bot.depends_on?.[SERVER]?.condition).toBe("service_healthy");
    expect(server.healthcheck?.test).toEqual(expect.arrayContaining(["CMD", "http://127.0.0.1:8082/"]));
    expect(server.environment?.TELEGRAM_STAT).toBe("1");
    expect(bot.restart).toBe("unless-stopped");
    expect(server.restart).toBe("unless-stopped");
    expect(bot.build).toBeDefined();
  });
});

/** The Dockerfile's instructions, continuation lines joined and comments dropped. */
function dockerfile(): string[] {
  const lines = readFileSync(path.join(ROOT, "Dockerfile"), "utf8").split("\n");
  const instructions: string[] = [];
  let current = "";
  for (const line of lines) {
    if (/^\s*#/.test(line) || (!current && !line.trim())) continue;
    current += `${line.replace(/\\$/, "").trim()} `;
    if (!line.endsWith("\\")) {
      instructions.push(current.trim());
      current = "";
    }
  }
  return instructions;
}

describe("the Dockerfile", () => {
  const instructions = dockerfile();

  it("checks its health with the healthcheck entry the build makes", () => {
    const healthchecks = instructions.filter((i) => i.startsWith("HEALTHCHECK "));
    expect(healthchecks).toHaveLength(1);
    expect(healthchecks[0]).toMatch(/ CMD \["node", "dist\/src\/healthcheck\.js"\]$/);
    expect(existsSync(path.join(ROOT, "src/healthcheck.ts"))).toBe(true);
  });

  it("has scripts/ in place before npm ci, whose prepare step runs scripts/build.mjs", () => {
    const ci = instructions.indexOf("RUN npm ci --no-audit --no-fund");
    expect(ci).toBeGreaterThan(-1);
    expect(instructions.indexOf("COPY scripts ./scripts")).toBeLessThan(ci);
    expect(instructions.indexOf("COPY scripts ./scripts")).toBeGreaterThan(instructions.indexOf("FROM node:24-bookworm-slim AS build"));
  });

  it("downloads yt-dlp pinned by version and checked against its SHA-256", () => {
    const download = instructions.filter((i) => i.startsWith("RUN ") && /curl .*releases\/download\/\$\{YT_DLP_VERSION\}\/yt-dlp/.test(i));
    expect(download).toHaveLength(1);
    expect(download[0]).toMatch(/echo "\$\{YT_DLP_SHA256\}  yt-dlp" \| sha256sum -c -/);
    expect(instructions).toContain("ARG YT_DLP_VERSION=2025.12.08");
    expect(instructions.find((i) => i.startsWith("ARG YT_DLP_SHA256="))).toMatch(/^ARG YT_DLP_SHA256=[0-9a-f]{64}$/);
  });

  it("installs deno from its lock file, and runs the bot with the V8 flags npm start uses on Node 24", () => {
    const lock = JSON.parse(readFileSync(path.join(ROOT, "docker/deno/package-lock.json"), "utf8")) as { packages: Record<string, { version?: string; integrity?: string }> };
    const pinned = (JSON.parse(readFileSync(path.join(ROOT, "docker/deno/package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies.deno;
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(lock.packages["node_modules/deno"]?.version).toBe(pinned);
    expect(lock.packages["node_modules/@deno/linux-x64-glibc"]).toMatchObject({ version: pinned, integrity: expect.stringMatching(/^sha512-/) });
    expect(instructions.some((i) => i.startsWith("RUN cd deno-npm && npm ci --ignore-scripts "))).toBe(true);

    expect(instructions.filter((i) => i.startsWith("FROM ")).at(-1)).toBe("FROM node:24-bookworm-slim");
    const flags = spawnSync(process.execPath, ["scripts/node-flags.mjs"], { cwd: ROOT, encoding: "utf8" }).stdout.trim().split(/\s+/);
    const cmd = instructions.find((i) => i.startsWith("CMD "));
    expect(JSON.parse(cmd!.slice(4))).toEqual(["node", ...flags, "dist/src/main.js"]);
  });

  it("keeps secrets and local state out of the build context", () => {
    const ignored = readFileSync(path.join(ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining([".env", "config.json", "data"]));
  });
});
