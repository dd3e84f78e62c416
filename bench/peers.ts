/**
 * The bench's peers, all from Debian (`apt-get install nginx-light aria2 curl`): nginx serving the
 * files (sendfile, as a real server does), curl and aria2c fetching them, curl -F uploading.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";

export const MB = 1024 * 1024;

/** Stops the bench with one line saying what to install when a peer is missing. */
export function requireTools(): void {
  const missing = ["nginx", "curl", "aria2c"].filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
  if (missing.length) {
    console.error(`bench: ${missing.join(", ")} not found; install the peers with: apt-get install nginx-light aria2 curl`);
    process.exit(1);
  }
}

/** Writes `size` pseudo-random bytes (AES-CTR, the same for the same seed) in 1 MB chunks. */
export async function writeRandomFile(file: string, size: number, seed: number): Promise<string> {
  const key = createHash("sha256").update(`bench-seed:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  const hash = createHash("sha256");
  const out = createWriteStream(file);
  const zeros = Buffer.alloc(MB);
  for (let pos = 0; pos < size; pos += MB) {
    const chunk = cipher.update(zeros.subarray(0, Math.min(MB, size - pos)));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  await chmod(file, 0o644);
  return hash.digest("hex");
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * The rate of the one slow connection under /uneven/: the request that asks for the file from
 * its start (no Range, as a download's first request, or bytes=0-); the others go at full speed.
 */
export const UNEVEN_RATE_MB = 2;

/** One line of nginx's access log: when a response started and ended, and what it was. */
export interface Served {
  start: number;
  end: number;
  status: number;
  bytes: number;
  request: string;
  range: string;
}

/**
 * nginx on 127.0.0.1 serving `root`: `/files/...` at full speed, `/limited/...` at `limitRate` per
 * connection (nginx's limit_rate), `/uneven/...` with only the first connection held to
 * UNEVEN_RATE_MB (a variable limit_rate, nginx 1.17.0 and later). Its access log gives each response's start and end to the
 * millisecond, the same clock for the bot and its peers.
 */
export class Nginx {
  private constructor(
    private readonly child: ChildProcess,
    readonly baseUrl: string,
    private readonly logFile: string,
  ) {}

  static async start(dir: string, root: string, limitRate: string): Promise<Nginx> {
    const port = await freePort();
    const logFile = path.join(dir, "access.log");
    const conf = path.join(dir, "nginx.conf");
    await writeFile(
      conf,
      `worker_processes 1;
pid ${path.join(dir, "nginx.pid")};
error_log ${path.join(dir, "error.log")} warn;
daemon off;
events { worker_connections 256; }
http {
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 60;
  types { }
  default_type application/octet-stream;
  client_body_temp_path ${dir};
  log_format bench '$msec $request_time $status $body_bytes_sent "$request" "$http_range"';
  access_log ${logFile} bench;
  map $http_range $uneven_rate { "" ${UNEVEN_RATE_MB}m; "~^bytes=0-" ${UNEVEN_RATE_MB}m; default 0; }
  server {
    listen 127.0.0.1:${port};
    location /files/ { alias ${root}/; }
    location /limited/ { alias ${root}/; limit_rate ${limitRate}; }
    location /uneven/ { alias ${root}/; limit_rate $uneven_rate; }
  }
}
`,
    );
    const child = spawn("nginx", ["-c", conf, "-p", dir], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const nginx = new Nginx(child, `http://127.0.0.1:${port}`, logFile);
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`nginx did not start: ${err}`);
      const up = await new Promise<boolean>((resolve) => {
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.destroy();
          resolve(true);
        });
        socket.on("error", () => resolve(false));
      });
      if (up) return nginx;
      if (i > 100) throw new Error("nginx did not start listening");
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The responses whose request line contains `tag` (each run asks with its own query string). */
  async served(tag: string): Promise<Served[]> {
    // nginx writes the log line when the response ends; it is there by the time a client finished.
    const lines = (await readFile(this.logFile, "utf8")).split("\n").filter((l) => l.includes(tag));
    return lines.map((line) => {
      const m = /^(\S+) (\S+) (\d+) (\d+) "([^"]*)" "([^"]*)"/.exec(line)!;
      const end = Number(m[1]) * 1000;
      return { end, start: end - Number(m[2]) * 1000, status: Number(m[3]), bytes: Number(m[4]), request: m[5]!, range: m[6]! };
    });
  }

  /** Seconds from the first GET's start to the last one's end: the download as the server saw it. */
  async transferSeconds(tag: string): Promise<{ seconds: number; bytes: number; gets: number }> {
    const gets = (await this.served(tag)).filter((s) => s.request.startsWith("GET "));
    if (gets.length === 0) throw new Error(`nginx served no GET for ${tag}`);
    const start = Math.min(...gets.map((g) => g.start));
    const end = Math.max(...gets.map((g) => g.end));
    return { seconds: (end - start) / 1000, bytes: gets.reduce((sum, g) => sum + g.bytes, 0), gets: gets.length };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGQUIT");
    await exited;
  }
}

/** Runs a command to the end; rejects with its stderr when it fails. */
export function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}: ${err.trim()}`))));
  });
}

/**
 * The same start for every measured transfer: dirty pages written out (the bench writes many GB,
 * and whoever runs while the kernel throttles writers would pay for the one before), and, when
 * running as root, the page cache dropped and the file to be served read back in. Without the
 * drop, the speed of writing a new file depended on what earlier runs left in the cache (the bot
 * measured 660-750 MB/s before a drop and 940-1050 MB/s after, on the same build).
 */
export async function settle(source?: string): Promise<void> {
  await run("sync", []);
  if (!source) return;
  try {
    await writeFile("/proc/sys/vm/drop_caches", "1");
  } catch {
    return; // not root: dirty pages written out is what we can do
  }
  const stream = createReadStream(source, { highWaterMark: MB });
  for await (const _ of stream) {
    // Read into the page cache, as a server's hot file is.
  }
}

export const curlGet = (url: string, out: string) => run("curl", ["-sS", "--fail", "-o", out, url]);

export const aria2 = (url: string, dir: string, name: string) =>
  run("aria2c", [
    "-x4",
    "-s4",
    "--file-allocation=none",
    "--allow-overwrite=true",
    "--auto-file-renaming=false",
    "--console-log-level=warn",
    "--summary-interval=0",
    "--enable-dht=false",
    "-d",
    dir,
    "-o",
    name,
    url,
  ]);

/** aria2c on a magnet: DHT, local discovery and seeding off; the magnet names the loopback tracker. */
export const aria2Torrent = (magnet: string, dir: string) =>
  run("aria2c", [
    "--enable-dht=false",
    "--enable-dht6=false",
    "--bt-enable-lpd=false",
    "--enable-peer-exchange=false",
    "--seed-time=0",
    "--file-allocation=none",
    "--bt-save-metadata=false",
    "--console-log-level=warn",
    "--summary-interval=0",
    "-d",
    dir,
    magnet,
  ]);

/** aria2c's time for a magnet, from a settled machine, in seconds; what it fetched is removed after. */
export async function timedAria2Torrent(magnet: string, dir: string): Promise<number> {
  await settle();
  const started = Date.now();
  await aria2Torrent(magnet, dir);
  const seconds = (Date.now() - started) / 1000;
  await rm(dir, { recursive: true, force: true });
  return seconds;
}

export const curlUpload = (url: string, file: string) =>
  run("curl", ["-sS", "--fail", "-o", "/dev/null", "-F", "chat_id=1", "-F", `document=@${file}`, url]);

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
