/** The wire protocol version. Bump on any incompatible change to a message or blob. */
// v3: task subjects per run (<prefix>.run.<runId>.task.*), run.announce/run.end/run.list,
// and the worker's announce and heartbeat say which run it serves and how fast.
export const PROTOCOL_VERSION = 3;
