// Errors of the wire contract. Small subclasses that set `name` and chain `cause`, so
// callers can tell a malformed message (drop it, keep serving) from a bug.

/** A message or blob that does not match the contract. `field` is a dotted path. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${message}`, options);
  }
}

/** The peer speaks another protocol version; names both so the operator knows which to upgrade. */
export class ProtocolVersionError extends ProtocolError {
  override name = "ProtocolVersionError";
  constructor(
    readonly expected: number,
    readonly received: unknown,
  ) {
    super("v", `protocol version mismatch: this side speaks v${expected}, the peer sent v${String(received)}`);
  }
}
