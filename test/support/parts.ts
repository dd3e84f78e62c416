import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";

/** The names byte parts of `name` go up under: name.001, name.002, … */
export const partNames = (name: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${name}.${String(i + 1).padStart(3, "0")}`);

/** The sha256 of files read one after another: byte parts joined back into their file. */
export async function joinedSha256(files: ReadonlyArray<{ path: string }>): Promise<string> {
  const joined = createHash("sha256");
  for (const file of files) joined.update(await readFile(file.path));
  return joined.digest("hex");
}
