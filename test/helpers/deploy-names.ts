// The names the deploy files (deploy/) use that the program does not have yet: they belong
// to other parts of issue 9 ("Metrics") and are written here once,
// so that whoever merges those parts aligns the deploy files with them and empties these
// lists. test/integration/deploy-files.test.ts accepts a name in the deploy files only if
// `worker --help` / `coordinator run --help` (or the config schema) knows it, or it is here.

/** Worker options the deploy files pass. */
export const PENDING_WORKER_FLAGS: string[] = [];

/** `nats:` keys of a coordinator config that the deploy files' configs use. */
export const PENDING_NATS_CONFIG_KEYS: string[] = [];
