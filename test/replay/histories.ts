/**
 * The committed orchestration histories the replay test replays on today's code:
 * `test/replay/histories/<version>/<orchestrator>/<path>.json`, one file per recorded execution.
 * `<version>` is the orchestration version the app declared when they were recorded (host.json
 * `extensions.durableTask.defaultVersion`), `unversioned` for instances started before versioning.
 * Every version still supported keeps its histories (docs/replay-tests.md).
 */
import fs from "node:fs";
import path from "node:path";
import type { HistoryEvent } from "../../dev/durable/history";

/** The repository, from the compiled file (dist/test/replay) or a script. */
export const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
export const HISTORIES_DIR = path.join(REPO_ROOT, "test", "replay", "histories");
export const UNVERSIONED = "unversioned";

/** The two apps and where each declares its version. */
export const APPS = { provider: REPO_ROOT, customer: path.join(REPO_ROOT, "customer") } as const;
export type AppName = keyof typeof APPS;

export interface RecordedHistory {
  orchestrator: string;
  instanceId: string;
  parentInstanceId?: string;
  /** How the recorded execution ended: Completed, Failed, Terminated, ContinuedAsNew. */
  runtimeStatus: string;
  /** JSON text of the execution's input. */
  input?: string;
  /** JSON text of the output (for ContinuedAsNew: the next execution's input). */
  output?: string;
  history: HistoryEvent[];
}

/** `HISTORIES_VERSION` if set, else the app's host.json defaultVersion, else `unversioned`. */
export function declaredVersion(app: AppName, env: NodeJS.ProcessEnv = process.env): string {
  if (env.HISTORIES_VERSION) return env.HISTORIES_VERSION;
  const hostJson = JSON.parse(fs.readFileSync(path.join(APPS[app], "host.json"), "utf8")) as {
    extensions?: { durableTask?: { defaultVersion?: unknown } };
  };
  const version = hostJson.extensions?.durableTask?.defaultVersion;
  return typeof version === "string" && version.length > 0 ? version : UNVERSIONED;
}

/** A file-name-safe form of a test's name. */
export function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 64)
      .replace(/-+$/, "") || "history"
  );
}

/** Every committed history: `{ file (relative to the histories folder), version, recorded }`. */
export function committedHistories(): { file: string; version: string; recorded: RecordedHistory }[] {
  if (!fs.existsSync(HISTORIES_DIR)) return [];
  const out: { file: string; version: string; recorded: RecordedHistory }[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".json")) {
        const file = path.relative(HISTORIES_DIR, full);
        out.push({
          file,
          version: file.split(path.sep)[0],
          recorded: JSON.parse(fs.readFileSync(full, "utf8")) as RecordedHistory,
        });
      }
    }
  };
  walk(HISTORIES_DIR);
  return out.sort((a, b) => (a.file < b.file ? -1 : 1));
}
