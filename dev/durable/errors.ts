/** The error the engine and its management API answer with: a message and the HTTP status it maps to. */
export class DurableEngineError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
    this.name = "DurableEngineError";
  }
}
