/** Calls a running Provider's HTTP API from a test, and checks its problem+json answers. */
import assert from "node:assert/strict";

/** `api(path, { method, body })` against `<baseUrl>/api/`; an object body goes as JSON. */
export function apiClient(baseUrl: () => string) {
  return (p: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${baseUrl()}/api/${p}`, {
      method: init.method ?? "GET",
      ...(init.body !== undefined
        ? { headers: { "content-type": "application/json" }, body: JSON.stringify(init.body) }
        : {}),
    });
}

/** Asserts a problem+json answer with `status` and, when given, an error naming `field`; answers its text. */
export async function expectProblem(res: Response, status: number, field?: string): Promise<string> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  if (field !== undefined) {
    const errors = (JSON.parse(text) as { errors?: { field: string }[] }).errors ?? [];
    assert.ok(
      errors.some((e) => e.field === field),
      `expected an error on ${field}: ${text}`,
    );
  }
  return text;
}
