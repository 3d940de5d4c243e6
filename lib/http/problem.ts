/**
 * Problem details (RFC 9457) for every HTTP error the Provider API returns. A `ProblemError` thrown
 * anywhere below a handler becomes an `application/problem+json` response; field-level validation
 * errors travel in `errors`.
 */
import type { HttpResponseInit } from "@azure/functions";

export interface FieldError {
  /** Dotted path of the offending field, e.g. `serviceBus.namespace`; `""` for the body itself. */
  field: string;
  message: string;
}

interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  412: "Precondition Failed",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  428: "Precondition Required",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

const PROBLEM_CONTENT_TYPE = "application/problem+json";

export class ProblemError extends Error {
  constructor(
    readonly status: number,
    detail: string,
    readonly errors?: FieldError[],
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = "ProblemError";
  }

  toDetails(instance?: string): ProblemDetails {
    return {
      type: "about:blank",
      title: TITLES[this.status] ?? "Error",
      status: this.status,
      detail: this.message,
      ...(instance ? { instance } : {}),
      ...(this.errors && this.errors.length > 0 ? { errors: this.errors } : {}),
      ...this.extensions,
    };
  }
}

export function validationProblem(errors: FieldError[], detail = "The request is invalid."): ProblemError {
  return new ProblemError(400, detail, errors);
}

export function problemResponse(problem: ProblemError, instance?: string): HttpResponseInit {
  return {
    status: problem.status,
    headers: { "content-type": PROBLEM_CONTENT_TYPE, ...problem.headers },
    body: JSON.stringify(problem.toDetails(instance)),
  };
}
