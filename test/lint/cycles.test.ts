/**
 * No import cycles between folders of lib/: each folder (lib/tenants, lib/deployments, ...)
 * may depend on others only one way, so a folder can be read, tested and changed from its dependencies
 * up. ESLint has no cycle rule built in; this reads every lib/**\/*.ts with TypeScript's own import
 * scanner (type-only imports count too) and fails on any cycle in the folder graph, naming it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

const root = path.resolve(__dirname, "..", "..", "..");
const lib = path.join(root, "lib");

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [full] : [];
  });
}

/** The lib/ folder a file belongs to ("tenants" for lib/tenants/http.ts; "." for a file directly in lib/). */
function folderOf(file: string): string | undefined {
  const rel = path.relative(lib, file);
  if (rel.startsWith("..") || path.isAbsolute(rel)) return undefined;
  const parts = rel.split(path.sep);
  return parts.length > 1 ? parts[0] : ".";
}

/** Edges between lib/ folders, each with one import that makes it (for the failure message). */
export function folderGraph(files: { file: string; text: string }[]): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const { file, text } of files) {
    const from = folderOf(file);
    if (from === undefined) continue;
    const { importedFiles } = ts.preProcessFile(text, true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith(".")) continue;
      const to = folderOf(path.resolve(path.dirname(file), fileName));
      if (to === undefined || to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, `${path.relative(root, file)} imports "${fileName}"`);
      graph.set(from, edges);
    }
  }
  return graph;
}

/** Every cycle's folders, found by depth-first search (each cycle once, from its first folder met). */
export function cycles(graph: Map<string, Map<string, string>>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const stack: string[] = [];
  const visit = (node: string) => {
    if (stack.includes(node)) {
      found.push([...stack.slice(stack.indexOf(node)), node]);
      return;
    }
    if (done.has(node)) return;
    stack.push(node);
    for (const next of graph.get(node)?.keys() ?? []) visit(next);
    stack.pop();
    done.add(node);
  };
  for (const node of [...graph.keys()].sort()) visit(node);
  return found;
}

function describeCycle(graph: Map<string, Map<string, string>>, cycle: string[]): string {
  const steps = cycle.slice(1).map((to, i) => `  ${graph.get(cycle[i])?.get(to)}`);
  return `lib/${cycle.join(" → lib/")}\n${steps.join("\n")}`;
}

test("no import cycles between folders of lib/", () => {
  const files = sources(lib).map((file) => ({ file, text: fs.readFileSync(file, "utf8") }));
  assert.ok(files.length > 10, "lib/ sources found");
  const graph = folderGraph(files);
  const found = cycles(graph);
  assert.deepEqual(
    found.map((c) => describeCycle(graph, c)),
    [],
  );
});

test("the check finds a cycle between two lib/ folders", () => {
  const graph = folderGraph([
    {
      file: path.join(lib, "tenants", "http.ts"),
      text: `import { inFlight } from "../deployments/reconcile";`,
    },
    { file: path.join(lib, "deployments", "http.ts"), text: `import type { T } from "../tenants/http";` },
    { file: path.join(lib, "deployments", "x.ts"), text: `import { y } from "./y";` },
  ]);
  const found = cycles(graph);
  assert.equal(found.length, 1);
  assert.match(describeCycle(graph, found[0]), /lib\/deployments → lib\/tenants → lib\/deployments/);
});
