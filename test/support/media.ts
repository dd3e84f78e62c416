import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const made = new Map<number, Buffer>();

/**
 * A real, playable MP4 (H.264 and AAC, 160x90, one second) made by Debian's ffmpeg, different for
 * each `variant` (its tone and picture differ). The bot only sends a file as a video when ffprobe
 * reads it as one, so tests that expect a video need real media, not random bytes.
 */
export function playableMp4(variant = 0): Buffer {
  const cached = made.get(variant);
  if (cached) return cached;
  const dir = mkdtempSync(path.join(tmpdir(), "dlbot-mp4-"));
  try {
    const file = path.join(dir, "v.mp4");
    execFileSync("ffmpeg", [
      "-v", "error", "-y",
      "-f", "lavfi", "-i", `testsrc=duration=1:size=160x90:rate=10:decimals=${variant % 3}`,
      "-f", "lavfi", "-i", `sine=frequency=${300 + variant * 10}:duration=1`,
      "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-movflags", "+faststart",
      "-metadata", `comment=variant ${variant}`, file,
    ], { stdio: "pipe" });
    const bytes = readFileSync(file);
    made.set(variant, bytes);
    return bytes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
