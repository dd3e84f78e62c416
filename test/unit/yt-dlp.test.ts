import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { SAFE_FORMATS } from "../../src/tools/ffmpeg.ts";
import { toolEnvironment } from "../../src/tools/run-tool.ts";
import { parseStat } from "../../src/tools/tool-processes.ts";
import { createSiteMatcher, downloadArgs, findYtDlp, playlistEntries, writeToolWrappers } from "../../src/tools/yt-dlp.ts";
import { formatUpTo, siteQualities } from "../../src/tools/yt-dlp.ts";

const ytDlp = findYtDlp(undefined);

describe("yt-dlp's site extractors", () => {
  beforeAll(() => {
    // These tests never skip: without yt-dlp they fail and say what to install.
    if (!ytDlp) throw new Error("yt-dlp is not installed: apt-get install yt-dlp (.ci/run does)");
  });

  it("sends a site yt-dlp has an extractor of its own for to yt-dlp first, and nothing else", async () => {
    const handles = createSiteMatcher(ytDlp!);
    // Asked offline, from yt-dlp's own list: nothing here reaches the network.
    expect(await handles("https://www.youtube.com/watch?v=dQw4w9WgXcQ")).toBe(true);
    expect(await handles("https://example.com/files/report.bin")).toBe(false);
    expect(await handles("http://127.0.0.1:8080/watch/x.html")).toBe(false);
    expect(await handles("not a url")).toBe(false);
  });
});

describe("playlistEntries", () => {
  it("takes a site's entry pages as pages and media found in a page as files, each once", () => {
    const page = "https://example.com/season";
    expect(
      playlistEntries(
        {
          _type: "playlist",
          entries: [
            { _type: "url", url: "https://www.youtube.com/watch?v=a" },
            { _type: "url", url: "https://www.youtube.com/watch?v=a" },
            { webpage_url: page, formats: [{ url: "https://cdn.example.com/low.mp4" }, { url: "https://cdn.example.com/high.mp4" }] },
            { _type: "url", url: "javascript:alert(1)" },
            null,
            { webpage_url: page },
          ],
        },
        page,
      ),
    ).toEqual([
      { url: "https://www.youtube.com/watch?v=a" },
      { url: "https://cdn.example.com/high.mp4", expectFile: true },
    ]);
  });
});

describe("the tools' surroundings", () => {
  it("a tool's environment is PATH, HOME, LANG and what the caller passes, nothing else of the bot's", () => {
    const bot = { PATH: "/usr/bin", HOME: "/home/bot", LANG: "C.UTF-8", BOT_TOKEN: "1:x", CONFIG_JSON: "{}", no_proxy: "*", HTTPS_PROXY: "http://p", LD_PRELOAD: "x.so" };
    expect(toolEnvironment({ http_proxy: "http://127.0.0.1:9" }, bot)).toEqual({ PATH: "/usr/bin", HOME: "/home/bot", LANG: "C.UTF-8", http_proxy: "http://127.0.0.1:9" });
    expect(toolEnvironment({}, {})).toEqual({});
  });

  it("reads a process's group and start time from /proc/<pid>/stat, whatever its name holds", () => {
    const stat = "4242 (evil) 1 2 3 (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
    expect(parseStat(4242, stat)).toEqual({ pid: 4242, pgrp: 4242, state: "S", startTime: 987654 });
    expect(parseStat(process.pid, execFileSync("cat", [`/proc/${process.pid}/stat`]).toString())).toMatchObject({ pid: process.pid, state: expect.any(String) });
    expect(parseStat(1, "garbage")).toBeUndefined();
  });

  it("yt-dlp's ffmpeg gets the whitelists before every input, its ffprobe before its one", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dlbot-wrap-"));
    try {
      // "Tools" that print the arguments they were given, one a line.
      const printer = path.join(dir, "print args");
      writeFileSync(printer, '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
      const wrappers = await writeToolWrappers(dir, { ffmpeg: printer, ffprobe: printer });
      const args = (tool: string, ...given: string[]) => execFileSync(path.join(wrappers, tool), given).toString().split("\n").slice(0, -1);
      const guard = ["-protocol_whitelist", "file", "-format_whitelist", SAFE_FORMATS.join(",")];
      expect(args("ffmpeg", "-y", "-i", "file:a b.mp4", "-i", "file:it's.m4a", "-c", "copy", "file:out.mp4")).toEqual([
        "-y", ...guard, "-i", "file:a b.mp4", ...guard, "-i", "file:it's.m4a", "-c", "copy", "file:out.mp4",
      ]);
      expect(args("ffprobe", "-show_streams", "file:x.mp4")).toEqual([...guard, "-show_streams", "file:x.mp4"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("downloadArgs", () => {
  const common = ["--no-config"];
  const base = { url: "https://example.com/watch", dir: "/d/1", maxBytes: 1000 };
  const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

  it("asks for a video Telegram plays, merged into an MP4, within the size limit", () => {
    const args = downloadArgs(common, base);
    expect(after(args, "-f")).toBe("b[ext=mp4][vcodec^=avc1]/bv*[ext=mp4][vcodec^=avc1]+ba[ext=m4a]/b[ext=mp4]/bv*+ba/b");
    expect(after(args, "--merge-output-format")).toBe("mp4");
    expect(after(args, "--max-filesize")).toBe("1000");
    expect(args).not.toContain("--embed-metadata");
  });

  it("asks for the audio alone for /audio (an M4A first), with the page's tags, within the same limit", () => {
    const args = downloadArgs(common, { ...base, audioOnly: true });
    expect(after(args, "-f")).toBe("ba[ext=m4a]/ba[ext=mp3]/ba/b");
    expect(args).toContain("--embed-metadata");
    expect(args).not.toContain("--merge-output-format");
    expect(after(args, "--max-filesize")).toBe("1000");
    // Everything else as for a video: its own downloader, live streams left out, the page last.
    expect(args.filter((a) => !["-f", "ba[ext=m4a]/ba[ext=mp3]/ba/b", "--embed-metadata"].includes(a))).toEqual(
      downloadArgs(common, base).filter((a) => !["-f", after(downloadArgs(common, base), "-f"), "--merge-output-format", "mp4"].includes(a)),
    );
  });
});

describe("a site's qualities", () => {
  it("offers each height once, best first, with the size of its biggest format and the audio a video-only one needs", () => {
    const info = {
      duration: 100,
      formats: [
        { format_id: "140", vcodec: "none", acodec: "mp4a.40.2", filesize: 1_600_000 },
        { format_id: "18", height: 360, vcodec: "avc1", acodec: "mp4a", filesize: 8_000_000 },
        { format_id: "134", height: 360, vcodec: "avc1", acodec: "none", filesize: 5_000_000 },
        { format_id: "136", height: 720, vcodec: "avc1", acodec: "none", filesize_approx: 20_000_000 },
        { format_id: "137", height: 1080, vcodec: "avc1", acodec: "none", tbr: 4000 },
        { format_id: "sb0", height: 90, vcodec: "none", acodec: "none" },
      ],
    };
    expect(siteQualities(info, 30_000_000)).toEqual([
      // 4000 kbit/s for 100 s is 50 MB, plus the audio: over the limit, shown but not offered.
      { id: "1080", height: 1080, sizeBytes: 51_600_000, fits: false },
      { id: "720", height: 720, sizeBytes: 21_600_000, fits: true },
      { id: "360", height: 360, sizeBytes: 8_000_000, fits: true },
    ]);
    expect(siteQualities({ formats: [{ height: 480, vcodec: "vp9" }] }, 1)).toEqual([{ id: "480", height: 480, sizeBytes: null, fits: true }]);
  });

  it("holds every alternative of the format to the chosen height, and asks yt-dlp for it", () => {
    expect(formatUpTo(720)).toBe(
      "b[height<=720][ext=mp4][vcodec^=avc1]/bv*[height<=720][ext=mp4][vcodec^=avc1]+ba[ext=m4a]/b[height<=720][ext=mp4]/bv*[height<=720]+ba/b[height<=720]",
    );
    const args = downloadArgs(["--no-config"], { url: "https://v.example/w", dir: "/d", maxBytes: 10, maxHeight: 480 });
    expect(args[args.indexOf("-f") + 1]).toBe(formatUpTo(480));
  });
});
