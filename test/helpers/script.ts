/** Runs one of the project's compiled dev scripts (dist/dev/<name>.js) as a user would, to its exit. */
import { spawn } from "node:child_process";
import path from "node:path";

export async function runDevScript(
  name: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [path.join(__dirname, "..", "..", "dev", `${name}.js`)], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr.on("data", (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, output };
}
