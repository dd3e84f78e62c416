import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Looking at the machine's processes from a test: what runs, by its command line. */

/** Where a command is on PATH (a wrapper script execs the real tool by it). */
export function which(name: string): string {
  return execFileSync("sh", ["-c", `command -v ${name}`]).toString().trim();
}

/** Processes whose command line names `text` (pgrep -f). */
export function processesNaming(text: string): number[] {
  return spawnSync("pgrep", ["-f", text], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number);
}

/** Still a process that can run (not gone, not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!);
  } catch {
    return false;
  }
}
