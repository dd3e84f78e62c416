import { promises as fs, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { Logger } from "../logger.ts";

/**
 * The tool processes (ffmpeg, ffprobe, yt-dlp) this bot started, written down in a small file in
 * the data directory as they start and end. Each runs in a process group of its own (so a kill
 * takes its children too) and so outlives a `kill -9` of the bot; the next start reads the file
 * and ends what is left (`reapLeftovers`) before the worker touches the items' folders, where a
 * leftover would otherwise go on writing into a requeued item.
 *
 * A process is known by its pid and its start time (from /proc/<pid>/stat): a pid the system has
 * since given to another process is never killed.
 */
export class ToolProcesses {
  private readonly running = new Map<number, Recorded>();

  constructor(
    /** e.g. `<dataDir>/tools.pids`. */
    readonly file: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Records a child that was just started detached (its pid is its process group). Synchronous,
   * so nothing can end the bot between the start and the record.
   */
  add(pid: number, name: string): void {
    const started = readStat(pid)?.startTime;
    // Gone already (it ended at once): nothing to record.
    if (started === undefined) return;
    this.running.set(pid, { pid, started, name });
    this.save();
  }

  remove(pid: number): void {
    if (this.running.delete(pid)) this.save();
  }

  private save(): void {
    const lines = [...this.running.values()].map((r) => `${r.pid} ${r.started} ${r.name}\n`).join("");
    try {
      // Written whole and renamed, so a crash mid-write never leaves half a list.
      writeFileSync(`${this.file}.tmp`, lines);
      renameSync(`${this.file}.tmp`, this.file);
    } catch (error) {
      this.logger.warn({ err: error instanceof Error ? error.message : String(error), file: this.file }, "could not record the running tools");
    }
  }

  /**
   * Ends the tools a previous process of the bot started and left running (it was killed, or the
   * machine's power went): each recorded process group whose leader is still the process recorded
   * (same start time), or, with the leader gone, its members started after it. Waits (up to about
   * two seconds) until they are gone. Returns how many processes were ended.
   */
  async reapLeftovers(): Promise<number> {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return 0; // no file: nothing ran, or the last stop was clean
    }
    const recorded = text
      .split("\n")
      .map((line) => line.split(" "))
      .filter((f) => f.length >= 2)
      .map(([pid, started, name]) => ({ pid: Number(pid), started: Number(started), name: name ?? "" }))
      .filter((r) => Number.isInteger(r.pid) && r.pid > 1 && Number.isFinite(r.started));
    if (recorded.length === 0) return 0;
    const processes = await listProcesses();
    const victims: number[] = [];
    for (const r of recorded) {
      const leader = processes.find((p) => p.pid === r.pid);
      // The pid (and so the group id) now belongs to someone else.
      if (leader && leader.startTime !== r.started) continue;
      const members = processes.filter((p) => p.pgrp === r.pid && p.startTime >= r.started);
      if (members.length === 0) continue;
      try {
        process.kill(-r.pid, "SIGKILL");
      } catch {
        continue; // ended meanwhile
      }
      victims.push(...members.map((m) => m.pid));
      this.logger.warn({ pid: r.pid, tool: r.name, processes: members.length }, "ended a tool a previous run of the bot left running");
    }
    // SIGKILL lands when the process is next scheduled: wait until none can write any more.
    for (let i = 0; i < 40 && victims.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
    this.running.clear();
    this.save();
    return victims.length;
  }
}

interface Recorded {
  pid: number;
  started: number;
  name: string;
}

interface ProcStat {
  pid: number;
  pgrp: number;
  state: string;
  /** Clock ticks after boot: with the pid, what identifies a process. */
  startTime: number;
}

/** The fields of /proc/<pid>/stat the reaper needs; undefined when the process is gone. */
function readStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, "latin1"));
  } catch {
    return undefined;
  }
}

/** Parses /proc/<pid>/stat: the command name may hold spaces and parentheses, so fields count from its last ")". Pure. */
export function parseStat(pid: number, text: string): ProcStat | undefined {
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // After the name: state (field 3), ppid, pgrp (5), ... starttime (22).
  const state = rest[0];
  const pgrp = Number(rest[2]);
  const startTime = Number(rest[19]);
  if (!state || !Number.isFinite(pgrp) || !Number.isFinite(startTime)) return undefined;
  return { pid, pgrp, state, startTime };
}

async function listProcesses(): Promise<ProcStat[]> {
  let names: string[];
  try {
    names = await fs.readdir("/proc");
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) out.push(stat);
  }
  return out;
}

/** Still a process that can run (a zombie has stopped writing for good). */
function alive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X";
}
