// Two worker processes given one --id: the coordinator keeps the one it heard first and
// refuses the other (duplicate_worker_id, naming the first's host and pid), whose
// heartbeats and announces must not keep the first's record alive; a process that comes
// back under an id whose holder went silent is a restart, not a duplicate. And a worker
// first heard by other means than its announce is asked to announce itself.

import { describe, expect, it } from "vitest";
import { ID_HELD_MS } from "../../src/coordinator/dispatcher.js";
import { createMessage, type Message } from "../../src/protocol/index.js";
import { beat, leased, pull, setup } from "../helpers/dispatcher-fixture.js";

const announce = (workerId: string, instance: string, host: string, pid: number) =>
  createMessage("worker.announce", { workerId, instance, host, pid, backend: "cpu", device: "x", version: "9.9.9", state: "idle", taskId: null, runId: null, tasksDone: 0, gradientsPerSecond: 0 });

function errorOf(m: Message): { code: string; message: string } {
  if (m.type !== "error") throw new Error(`expected an error, got ${m.type}`);
  return { code: m.code, message: m.message };
}

describe("duplicate worker ids", () => {
  it("refuses a second live process under one id, naming the first's host and pid, and says so once", () => {
    const { d, logs } = setup(4);
    d.announce(announce("gpu-01", "aaaa", "host-a", 111));
    expect(leased(pull(d, "gpu-01", "aaaa")).taskId).toBe("p#0");
    d.announce(announce("gpu-01", "bbbb", "host-b", 222));
    const refused = errorOf(pull(d, "gpu-01", "bbbb"));
    expect(refused.code).toBe("duplicate_worker_id");
    expect(refused.message).toContain("the worker id gpu-01 is in use by another live worker on host host-a (pid 111)");
    expect(refused.message).toContain("give each worker its own --id");
    expect(errorOf(pull(d, "gpu-01", "bbbb")).code).toBe("duplicate_worker_id");
    expect(logs.filter((l) => l.includes("refused a second worker process under the id gpu-01"))).toHaveLength(1);
    // The newcomer's announce changed nothing; the first keeps working.
    const w = d.registry.get("gpu-01")!;
    expect([w.host, w.pid, w.instance]).toEqual(["host-a", 111, "aaaa"]);
    expect(leased(pull(d, "gpu-01", "aaaa")).taskId).toBe("p#1");
    expect(d.workers).toHaveLength(1);
  });

  it("a newcomer's heartbeats do not keep a silent holder alive: after the silence it takes the id over, and the old leases go back at once", () => {
    const { d, clock, logs, phase } = setup(4);
    const held = leased(pull(d, "w", "old"));
    clock.advance(ID_HELD_MS - 1);
    beat(d, "w", null, "new");
    expect(errorOf(pull(d, "w", "new")).code).toBe("duplicate_worker_id");
    clock.advance(1); // the old one is now silent for ID_HELD_MS, the newcomer's beats notwithstanding
    const t = leased(pull(d, "w", "new"));
    expect(t.taskId).toBe("p#0"); // the old lease was released, not left to expire
    expect(phase.table.current(held.taskId, held.leaseId)).toBeNull();
    expect(phase.table.attemptsOf(held.taskId)).toEqual([]);
    expect(logs).toContain("worker w restarted (a new process under the same id); the leases of the old one go back to the queue");
    // Now the old process, should it come back, is the duplicate.
    expect(errorOf(pull(d, "w", "old")).message).toContain("in use by another live worker on a host not yet known");
  });

  it("a restarted worker's host, pid and version come from its own announce, not the old one's", () => {
    const { d, clock } = setup(1);
    d.announce(announce("w", "old", "host-a", 1));
    clock.advance(ID_HELD_MS);
    beat(d, "w", null, "new");
    const w = d.registry.get("w")!;
    expect([w.host, w.pid, w.version, w.instance]).toEqual(["", null, "", "new"]);
    d.announce(announce("w", "new", "host-b", 2));
    expect([w.host, w.pid, w.version]).toEqual(["host-b", 2, "9.9.9"]);
  });

  it("asks the workers to announce themselves when one is first heard by pull or heartbeat, not by its announce", () => {
    let asked = 0;
    const { d, clock } = setup(2, { askWorkers: () => asked++ });
    d.announce(announce("a", "a1", "h", 1));
    pull(d, "a", "a1");
    expect(asked).toBe(0);
    pull(d, "b", "b1");
    beat(d, "b", null, "b1");
    expect(asked).toBe(1);
    beat(d, "c", null, "c1");
    expect(asked).toBe(2);
    pull(d, "c", "c2"); // a duplicate: nothing to ask
    expect(asked).toBe(2);
    clock.advance(ID_HELD_MS);
    pull(d, "c", "c2"); // a restart: the new process has not announced to us
    expect(asked).toBe(3);
  });
});
