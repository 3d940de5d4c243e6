/**
 * Broker errors carry the AMQP condition the Service Bus client maps to its `ServiceBusError.code`
 * (e.g. `com.microsoft:message-lock-lost` → `MessageLockLost`), plus the management status code.
 */
export class BrokerError extends Error {
  constructor(
    readonly condition: string,
    description: string,
    readonly statusCode: number = 400,
  ) {
    super(description);
    this.name = "BrokerError";
  }
}

export const errors = {
  entityNotFound: (entity: string) =>
    new BrokerError("amqp:not-found", `The messaging entity '${entity}' could not be found.`, 404),
  lockLost: () =>
    new BrokerError(
      "com.microsoft:message-lock-lost",
      "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.",
      410,
    ),
  sessionLockLost: (sessionId: string) =>
    new BrokerError(
      "com.microsoft:session-lock-lost",
      `The session lock for session '${sessionId}' was lost.`,
      410,
    ),
  sessionCannotBeLocked: (detail: string) =>
    new BrokerError("com.microsoft:session-cannot-be-locked", detail, 410),
  messageNotFound: (detail: string) => new BrokerError("com.microsoft:message-not-found", detail, 404),
  unauthorized: (detail: string) => new BrokerError("amqp:unauthorized-access", detail, 401),
  tooLarge: (size: number, limit: number) =>
    new BrokerError(
      "amqp:link:message-size-exceeded",
      `The received message (size ${size} bytes) exceeds the limit (${limit} bytes) currently allowed on the link.`,
      403,
    ),
  notAllowed: (detail: string) => new BrokerError("amqp:not-allowed", detail, 400),
  badRequest: (detail: string) => new BrokerError("com.microsoft:argument-error", detail, 400),
  timeout: (detail: string) => new BrokerError("com.microsoft:timeout", detail, 408),
};

/** Any failure as the AMQP error a client receives (a broker error's condition, else internal-error). */
export function amqpError(error: unknown): { condition: string; description: string } {
  if (error instanceof BrokerError) return { condition: error.condition, description: error.message };
  return {
    condition: "amqp:internal-error",
    description: error instanceof Error ? error.message : String(error),
  };
}

/** Where the emulator's protocol side reports (debug for client-caused events, error for its own bugs). */
export interface Logger {
  (level: "debug" | "info" | "warn" | "error", message: string, props?: Record<string, unknown>): void;
}
