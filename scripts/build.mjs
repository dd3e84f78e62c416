#!/usr/bin/env node
/**
 * Builds the JavaScript `npm start` runs (dist/), so Node loads plain JS instead of compiling
 * TypeScript at every start: less memory and a faster start.
 *
 *   node scripts/build.mjs            build now (npm run build)
 *   node scripts/build.mjs --if-stale build only when a source is newer than the last build
 *                                     (npm ci's prepare step, and every npm start: a few ms)
 *
 * Without TypeScript (an install with --omit=dev) a stale or missing build is reported in one line;
 * the Docker image builds in a stage that has it.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const stamp = path.join(dist, ".built");
const ifStale = process.argv.includes("--if-stale");

function newestSource() {
  let newest = 0;
  const visit = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(p);
      // Every file: the TypeScript, and the files copied as they are (the Mini App's page).
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  visit(path.join(root, "src"));
  visit(path.join(root, "migrations"));
  for (const f of ["tsconfig.json", "tsconfig.build.json", "package.json"]) newest = Math.max(newest, statSync(path.join(root, f)).mtimeMs);
  return newest;
}

// npm ci before the sources are there (the Docker image's dependency layer): nothing to build yet.
if (!existsSync(path.join(root, "src"))) process.exit(0);

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (ifStale && built >= newestSource()) process.exit(0);

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  if (built > 0) {
    console.error("build: the sources changed but TypeScript is not installed (npm ci without --omit=dev builds them); running the last build");
    process.exit(0);
  }
  console.error("build: dist/ is missing and TypeScript is not installed: run npm ci (with the dev dependencies) once");
  process.exit(1);
}

// From scratch: a file deleted from src/ or migrations/ must not live on in dist/.
rmSync(dist, { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], { stdio: "inherit", cwd: root });
if (result.status !== 0) {
  console.error("build: tsc failed (see above)");
  process.exit(result.status ?? 1);
}
// What is not TypeScript (the Mini App's page, src/web/public) goes into dist/ as it is, beside
// the modules that read it.
cpSync(path.join(root, "src"), path.join(dist, "src"), { recursive: true, filter: (from) => statSync(from).isDirectory() || !from.endsWith(".ts") });
writeFileSync(stamp, new Date().toISOString() + "\n");
