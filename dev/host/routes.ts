/**
 * HTTP trigger route templates as Functions (ASP.NET) writes them: `{name}`, optional `{name?}`,
 * catch-all `{*rest}`, and constraints such as `{id:int}`, `{id:guid}`, `{v:alpha}`, `{n:int?}`.
 */
export interface CompiledRoute {
  template: string;
  regex: RegExp;
  params: string[];
  /** Literal segments first, for precedence: more specific routes win. */
  specificity: number;
}

const CONSTRAINTS: Record<string, string> = {
  int: "-?\\d+",
  long: "-?\\d+",
  guid: "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
  alpha: "[A-Za-z]+",
  bool: "(?:true|false|True|False)",
  double: "-?\\d+(?:\\.\\d+)?",
  float: "-?\\d+(?:\\.\\d+)?",
  decimal: "-?\\d+(?:\\.\\d+)?",
  datetime: "[^/]+",
};

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export function compileRoute(template: string): CompiledRoute {
  const clean = template.replace(/^\/+|\/+$/g, "");
  const params: string[] = [];
  let specificity = 0;
  let pattern = "";
  for (const segment of clean.split("/").filter((s) => s.length > 0)) {
    const m = /^\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+)(?:\([^)]*\))?)?(\?)?\}$/.exec(segment);
    if (!m) {
      if (/[{}]/.test(segment)) throw new Error(`Unsupported route segment "${segment}" in "${template}"`);
      pattern += `/${escapeRegex(segment)}`;
      specificity += 10;
      continue;
    }
    const [, catchAll, name, constraint, optional] = m;
    params.push(name as string);
    if (catchAll) {
      pattern += `(?:/(?<${name}>.*))?`;
      continue;
    }
    const body = constraint ? (CONSTRAINTS[constraint.toLowerCase()] ?? "[^/]+") : "[^/]+";
    pattern += optional ? `(?:/(?<${name}>${body}))?` : `/(?<${name}>${body})`;
    specificity += constraint ? 2 : 1;
  }
  return { template, regex: new RegExp(`^${pattern}/?$`, "i"), params, specificity };
}

/**
 * Decodes a route value as ASP.NET Core does for the Functions host: valid escapes are decoded, a malformed
 * one (`%zz`, a truncated or invalid UTF-8 sequence) is left as it was. decodeURIComponent would throw, and
 * the host would answer for the app; this way the app's own validation sees the value and answers in the
 * app's error format.
 */
function decodeRouteValue(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

export function matchRoute(route: CompiledRoute, pathname: string): Record<string, string> | undefined {
  const m = route.regex.exec(pathname === "/" ? "" : pathname.replace(/\/+$/, ""));
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const name of route.params) {
    const value = m.groups?.[name];
    if (value !== undefined) params[name] = decodeRouteValue(value);
  }
  return params;
}
