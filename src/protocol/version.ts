/** The wire protocol version. Bump on any incompatible change to a message or blob. */
export const PROTOCOL_VERSION = 2;
