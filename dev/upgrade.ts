/**
 * The previous release, materialised from the repository's own history, for the upgrade-in-flight test
 * (test/dev/upgrade.test.ts; docs/upgrading.md). `releases.json` maps each release's version to its full
 * commit sha and is the source of truth (a CI clone may carry no tags). The previous release is the
 * newest entry (by version) not above package.json's version: while package.json still names the last
 * release, the code since it is tested against it; once package.json is bumped, so is the code that will
 * ship as the new version, until that version is recorded in turn.
 *
 * `prepareRelease` extracts that commit with `git archive` into os.tmpdir(), gives it dependencies (a
 * symlink to this checkout's node_modules when its package-lock.json is identical, else `npm ci`) and
 * builds it; `spawnStack(dataDir, release.startScript)` (dev/stack-process.ts) then runs its `npm start`.
 * A build takes about 25 s, so the built release is kept in os.tmpdir() under a name made of its commit
 * and its lock file's hash, and reused by later runs; `UPGRADE_RELEASE_CACHE=0` builds afresh and
 * removes the folder again when the caller calls `release.dispose()`.
 */
import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { compareVersions } from "./product";

/** This checkout: dist/dev/upgrade.js is two folders below it. */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");

export interface Release {
  version: string;
  commit: string;
}

export interface PreparedRelease extends Release {
  /** The release's folder, built. */
  dir: string;
  /** Its `npm start` script: `<dir>/dist/dev/start.js`. */
  startScript: string;
  /** True when a build from an earlier run was reused. */
  reused: boolean;
  /** Removes the folder unless it is the cache (a no-op then). */
  dispose(): void;
}

const VERSION = /^(\d+)\.(\d+)\.(\d+)$/;
const SHA = /^[0-9a-f]{40}$/;

/** releases.json, checked: every key an x.y.z version (compared as orchestration versions are), every value a full commit sha. */
export function readReleases(root = REPO_ROOT): Release[] {
  const file = path.join(root, "releases.json");
  const raw = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  return Object.entries(raw).map(([version, commit]) => {
    if (!VERSION.test(version)) throw new Error(`${file}: "${version}" is not an x.y.z version`);
    if (typeof commit !== "string" || !SHA.test(commit))
      throw new Error(`${file}: "${version}" must name a full 40-character commit sha`);
    return { version, commit };
  });
}

/** The newest release in releases.json whose version is not above package.json's. */
export function previousRelease(root = REPO_ROOT): Release {
  const current = (
    JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }
  ).version;
  const older = readReleases(root)
    .filter((r) => compareVersions(r.version, current) <= 0)
    .sort((a, b) => compareVersions(b.version, a.version));
  const newest = older[0];
  if (!newest) throw new Error(`releases.json names no release at or below ${current}`);
  return newest;
}

const hashOf = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

function run(command: string, args: string[], cwd: string, input?: Buffer): Buffer {
  const result = spawnSync(command, args, { cwd, input, maxBuffer: 512 * 1024 * 1024 });
  if (result.status !== 0)
    throw new Error(
      `${command} ${args.join(" ")} (in ${cwd}) exited ${result.status ?? result.signal}:\n${String(result.stdout)}${String(result.stderr)}`,
    );
  return result.stdout;
}

/** Why `release` cannot be built here, or undefined when its commit is in this clone. */
export function releaseMissing(release: Release, root = REPO_ROOT): string | undefined {
  try {
    execFileSync("git", ["-C", root, "cat-file", "-e", `${release.commit}^{commit}`], { stdio: "ignore" });
    return undefined;
  } catch {
    return `release ${release.version} (${release.commit}) is not in this clone's history; the upgrade test needs the full history (git fetch --unshallow, or a CI checkout with fetch-depth 0)`;
  }
}

/** Whether this checkout is a shallow clone (its history cut off). */
export function isShallowClone(root = REPO_ROOT): boolean {
  try {
    return (
      execFileSync("git", ["-C", root, "rev-parse", "--is-shallow-repository"]).toString().trim() === "true"
    );
  } catch {
    return false;
  }
}

/** Extracts, installs and builds `release` in `dir` (which exists and is empty). */
function build(release: Release, dir: string, root: string): void {
  const missing = releaseMissing(release, root);
  if (missing) throw new Error(missing);
  run(
    "tar",
    ["-x", "-C", dir],
    dir,
    run("git", ["-C", root, "archive", "--format=tar", release.commit], root),
  );
  const modules = path.join(root, "node_modules");
  if (
    fs.existsSync(modules) &&
    hashOf(path.join(dir, "package-lock.json")) === hashOf(path.join(root, "package-lock.json"))
  )
    fs.symlinkSync(fs.realpathSync(modules), path.join(dir, "node_modules"), "dir");
  else run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], dir);
  run("npm", ["run", "build", "--silent"], dir);
}

/**
 * Materialises and builds `release` (the previous one by default) under `cacheDir`, reusing a build of the
 * same commit and lock file from an earlier run. Safe when two runs race: each builds in a folder of its
 * own and the first to rename it into place wins.
 */
export function prepareRelease(
  release: Release = previousRelease(),
  options: { root?: string; cacheDir?: string; cache?: boolean } = {},
): PreparedRelease {
  const root = options.root ?? REPO_ROOT;
  const cacheDir = options.cacheDir ?? os.tmpdir();
  const cache = options.cache ?? process.env.UPGRADE_RELEASE_CACHE !== "0";
  const lock = hashOf(path.join(root, "package-lock.json")).slice(0, 12);
  const target = path.join(
    cacheDir,
    `ctdo-release-${release.version}-${release.commit.slice(0, 12)}-${lock}`,
  );
  const prepared = (dir: string, reused: boolean): PreparedRelease => ({
    ...release,
    dir,
    startScript: path.join(dir, "dist", "dev", "start.js"),
    reused,
    dispose: () => {
      if (!cache) fs.rmSync(dir, { recursive: true, force: true });
    },
  });
  // A cached build is whole (it was renamed into place only once built) unless its node_modules symlink
  // now points nowhere (the checkout it came from is gone).
  if (cache && fs.existsSync(path.join(target, "dist", "dev", "start.js")))
    if (fs.existsSync(path.join(target, "node_modules"))) return prepared(target, true);
    else fs.rmSync(target, { recursive: true, force: true });
  const dir = fs.mkdtempSync(`${target}.building-`);
  try {
    build(release, dir, root);
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  if (!cache) return prepared(dir, false);
  try {
    fs.renameSync(dir, target);
  } catch {
    // Another run put the same build in place first.
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return prepared(target, false);
}
