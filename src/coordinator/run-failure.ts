// The error a run ends with when it cannot finish (no workers, a poisoned task, a stall,
// a journal that cannot be written): the CLI prints it and exits 1, the journal kept.

export class RunFailure extends Error {
  override name = "RunFailure";
}
