/**
 * Kubernetes label selectors over tenant labels (`ring=canary,region in (eu,us),!legacy`): the syntax
 * users already know from kubectl and fleet tools. Written here because the npm packages that parse it
 * are tied to a UI framework or unmaintained. Pure: no I/O.
 *
 * Grammar (comma = AND, whitespace around tokens ignored):
 *   requirement := key ("=" | "==" | "!=") value
 *                | key ("in" | "notin") "(" value ("," value)* ")"
 *                | key | "!" key
 * As in Kubernetes, `!=` and `notin` also match tenants without the label, and an empty selector
 * matches every tenant.
 */
import { z } from "zod";
import { isLabelKey, isLabelValue } from "./labels";

type Requirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists" };

/** All requirements must hold. */
export interface Selector {
  requirements: Requirement[];
}

/** A selector that does not parse; `message` says where and why. */
export class SelectorError extends Error {
  constructor(
    message: string,
    readonly selector: string,
    readonly position: number,
  ) {
    super(message);
    this.name = "SelectorError";
  }
}

/** Longer than any sensible selector; bounds the work a query parameter can cause. */
export const MAX_SELECTOR_LENGTH = 4096;

const NAME_CHAR = /[A-Za-z0-9\-_./]/;

class Parser {
  private pos = 0;
  constructor(private readonly text: string) {}

  private fail(message: string, at = this.pos): never {
    throw new SelectorError(`${message} at position ${at}`, this.text, at);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private peek(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  private atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  /** A run of name characters (a key or a value); may be empty. */
  private word(): { text: string; at: number } {
    this.skipSpace();
    const at = this.pos;
    while (this.pos < this.text.length && NAME_CHAR.test(this.text[this.pos])) this.pos++;
    return { text: this.text.slice(at, this.pos), at };
  }

  private key(): string {
    const { text, at } = this.word();
    if (text === "") this.fail("expected a label key", at);
    if (!isLabelKey(text)) this.fail(`"${text}" is not a valid label key`, at);
    return text;
  }

  private value(inList = false): string {
    const { text, at } = this.word();
    // An empty item in a list is far likelier a stray comma than a wish to match an empty value.
    if (inList && text === "") this.fail("expected a value in the list", at);
    if (!isLabelValue(text)) this.fail(`"${text}" is not a valid label value`, at);
    return text;
  }

  private values(): string[] {
    this.skipSpace();
    if (!this.peek("(")) this.fail('expected "(" after in / notin');
    this.pos++;
    const out: string[] = [];
    for (;;) {
      out.push(this.value(true));
      this.skipSpace();
      if (this.peek(",")) {
        this.pos++;
        continue;
      }
      if (this.peek(")")) {
        this.pos++;
        return out;
      }
      this.fail('expected "," or ")" in the value list');
    }
  }

  private requirement(): Requirement {
    this.skipSpace();
    if (this.peek("!") && !this.peek("!=")) {
      this.pos++;
      return { key: this.key(), op: "!exists" };
    }
    const key = this.key();
    this.skipSpace();
    if (this.atEnd() || this.peek(",")) return { key, op: "exists" };
    if (this.peek("==")) {
      this.pos += 2;
      return { key, op: "=", value: this.value() };
    }
    if (this.peek("!=")) {
      this.pos += 2;
      return { key, op: "!=", value: this.value() };
    }
    if (this.peek("=")) {
      this.pos += 1;
      return { key, op: "=", value: this.value() };
    }
    const { text: op, at } = this.word();
    if (op === "in" || op === "notin") return { key, op, values: this.values() };
    return this.fail(
      op === ""
        ? 'expected "=", "==", "!=", "in", "notin", "," or the end'
        : `unknown operator "${op}" (expected =, ==, !=, in, notin)`,
      at,
    );
  }

  parse(): Selector {
    const requirements: Requirement[] = [];
    this.skipSpace();
    if (this.atEnd()) return { requirements };
    for (;;) {
      requirements.push(this.requirement());
      this.skipSpace();
      if (this.atEnd()) return { requirements };
      if (!this.peek(",")) this.fail('expected "," between requirements');
      this.pos++;
    }
  }
}

/** Parses a label selector; a SelectorError says what is wrong and where. */
export function parseSelector(text: string): Selector {
  if (text.length > MAX_SELECTOR_LENGTH)
    throw new SelectorError(`is longer than ${MAX_SELECTOR_LENGTH} characters`, text, MAX_SELECTOR_LENGTH);
  return new Parser(text).parse();
}

/** Whether labels satisfy every requirement of the selector. */
export function matchesSelector(selector: Selector, labels: Readonly<Record<string, string>>): boolean {
  return selector.requirements.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const value = has ? labels[r.key] : undefined;
    switch (r.op) {
      case "exists":
        return has;
      case "!exists":
        return !has;
      case "=":
        return value === r.value;
      case "!=":
        return value !== r.value;
      case "in":
        return value !== undefined && r.values.includes(value);
      case "notin":
        return value === undefined || !r.values.includes(value);
    }
  });
}

/** The selector written back in canonical form (for messages and logs). */
export function formatSelector(selector: Selector): string {
  return selector.requirements
    .map((r) => {
      switch (r.op) {
        case "exists":
          return r.key;
        case "!exists":
          return `!${r.key}`;
        case "=":
        case "!=":
          return `${r.key}${r.op}${r.value}`;
        case "in":
        case "notin":
          return `${r.key} ${r.op} (${r.values.join(",")})`;
      }
    })
    .join(",");
}

/** A query parameter holding a selector: parsed, or an issue naming it (`?selector=` of lists). */
export const selectorParam = z.string().transform((text, ctx) => {
  try {
    return parseSelector(text);
  } catch (error) {
    if (!(error instanceof SelectorError)) throw error;
    ctx.addIssue({ code: "custom", message: `is not a label selector: ${error.message}` });
    return z.NEVER;
  }
});
