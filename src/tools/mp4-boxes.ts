import { promises as fs } from "node:fs";

/** One top-level box of an MP4 file: its four-character type, where it starts, how long it is. */
export interface Mp4Box {
  type: string;
  start: number;
  length: number;
}

/**
 * The top-level boxes of an MP4 from its first byte, one 16-byte header read at a time, up to
 * `max` (ffmpeg writes a handful; a file with many more is not laid out as it lays them out).
 * Ends at the end of the file, or after yielding "broken" at the first header that is not a box's
 * (cut short, a length under 8, a type that is not four printable characters: iTunes-style types
 * such as `©too` count). A length of 0 ("to the end of the file") is one ffmpeg writes only until
 * it finishes, so a file that still has it is broken. A box whose length runs past the end of the
 * file is yielded, and ends the walk.
 */
export async function* topLevelBoxes(file: string, max = 64): AsyncGenerator<Mp4Box | "broken"> {
  const handle = await fs.open(file, "r");
  try {
    const { size } = await handle.stat();
    const header = Buffer.alloc(16);
    let start = 0;
    for (let boxes = 0; boxes < max && start < size; boxes++) {
      const { bytesRead } = await handle.read(header, 0, 16, start);
      if (bytesRead < 8) {
        yield "broken";
        return;
      }
      const type = header.toString("latin1", 4, 8);
      let length = header.readUInt32BE(0);
      // A length of 1: the real one follows the type, as 64 bits.
      if (length === 1) length = bytesRead === 16 ? Number(header.readBigUInt64BE(8)) : 0;
      if (length < 8 || !/^[\x20-\x7e\xa9]{4}$/.test(type)) {
        yield "broken";
        return;
      }
      yield { type, start, length };
      start += length;
    }
  } finally {
    await handle.close();
  }
}
