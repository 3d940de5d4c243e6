/** Binding expressions: `%SettingName%` in a binding property resolves from app settings. */
export function resolveSetting(value: unknown, env: NodeJS.ProcessEnv = process.env): string {
  return String(value ?? "").replace(/%([^%]+)%/g, (_m, name: string) => {
    const resolved = env[name];
    if (resolved === undefined) throw new Error(`App setting "${name}" (used as %${name}%) is not set.`);
    return resolved;
  });
}
