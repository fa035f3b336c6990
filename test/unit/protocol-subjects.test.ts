import { describe, expect, it } from "vitest";
import { DEFAULT_PREFIX, ProtocolError, objectBucket, runSubjects, subjects, validatePrefix, validateRunId } from "../../src/protocol/index.js";

function prefixError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
  throw new Error("expected a ProtocolError");
}

describe("subjects", () => {
  it("puts every subject under the prefix", () => {
    expect(subjects("gradswarm.alice")).toEqual({
      heartbeat: "gradswarm.alice.worker.heartbeat",
      announce: "gradswarm.alice.worker.announce",
      list: "gradswarm.alice.worker.list",
      runAnnounce: "gradswarm.alice.run.announce",
      runEnd: "gradswarm.alice.run.end",
      runList: "gradswarm.alice.run.list",
    });
  });

  it("puts a run's task subjects under the prefix and its run id", () => {
    const id = "3f2b8c1e-9d4a-4b7e-a1c2-0e5f6a7b8c9d";
    expect(runSubjects("gradswarm.alice", id)).toEqual({
      pull: `gradswarm.alice.run.${id}.task.pull`,
      result: `gradswarm.alice.run.${id}.task.result`,
      chunk: `gradswarm.alice.run.${id}.task.chunk`,
      error: `gradswarm.alice.run.${id}.task.error`,
    });
    // Two runs, one prefix: no subject in common, and none with the prefix-wide ones.
    const all = [...Object.values(runSubjects("p", "a")), ...Object.values(runSubjects("p", "b")), ...Object.values(subjects("p"))];
    expect(new Set(all).size).toBe(all.length);
  });

  it("refuses a run id that is not one subject token, naming runId", () => {
    for (const id of ["", "a.b", "*", ">", "a b", "run\n", "ä", "x".repeat(129)]) {
      expect(prefixError(() => runSubjects("p", id)).field).toBe("runId");
      expect(prefixError(() => validateRunId(id)).field).toBe("runId");
    }
    expect(validateRunId("x".repeat(128))).toBe("x".repeat(128));
    expect(prefixError(() => runSubjects("a..b", "r")).field).toBe("prefix");
  });

  it("defaults to gradswarm", () => {
    expect(DEFAULT_PREFIX).toBe("gradswarm");
    expect(subjects().runAnnounce).toBe("gradswarm.run.announce");
    expect(subjects(DEFAULT_PREFIX).heartbeat).toBe("gradswarm.worker.heartbeat");
  });

  it("gives distinct subjects for distinct prefixes", () => {
    const a = Object.values(subjects("runs.a"));
    const b = Object.values(subjects("runs.b"));
    expect(new Set([...a, ...b]).size).toBe(a.length + b.length);
  });

  it("accepts prefixes of letters, digits, _ and - in dot-separated tokens", () => {
    for (const p of ["a", "gradswarm", "Grad_Swarm-2", "x.y.z", "team-1.run_42", "a".repeat(128)]) {
      expect(validatePrefix(p)).toBe(p);
      expect(() => subjects(p)).not.toThrow();
    }
  });

  it("refuses wildcards, empty tokens, whitespace, other characters and long prefixes, naming prefix", () => {
    const bad = [
      "",
      "*",
      ">",
      "gradswarm.*",
      "gradswarm.>",
      "a.*.b",
      ".gradswarm",
      "gradswarm.",
      "a..b",
      "grad swarm",
      "grad\tswarm",
      "gradswarm\n",
      "grad/swarm",
      "grad$swarm",
      "grädswarm",
      "a".repeat(129),
      `${"a".repeat(64)}.${"b".repeat(64)}`,
    ];
    for (const p of bad) {
      expect(prefixError(() => subjects(p)).field).toBe("prefix");
      expect(prefixError(() => objectBucket(p)).field).toBe("prefix");
    }
    expect(prefixError(() => subjects(42 as unknown as string)).field).toBe("prefix");
  });
});

describe("objectBucket", () => {
  it("turns dots into underscores", () => {
    expect(objectBucket("gradswarm.alice")).toBe("gradswarm_alice_blobs");
    expect(objectBucket("gradswarm")).toBe("gradswarm_blobs");
    expect(objectBucket()).toBe("gradswarm_blobs");
  });

  it("uses only bucket-name characters", () => {
    for (const p of ["a.b-c_d.E9", "x", "team-1.run_42", "_._-.-", "a".repeat(128), "_".repeat(117)]) {
      expect(objectBucket(p)).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });

  it("refuses a prefix whose escaped bucket name would be too long for the server", () => {
    expect(subjects("_".repeat(128)).heartbeat).toBe(`${"_".repeat(128)}.worker.heartbeat`);
    expect(prefixError(() => objectBucket("_".repeat(128))).field).toBe("prefix");
  });

  it("never maps two prefixes to the same bucket", () => {
    const prefixes = ["a.b", "a_b", "a-b", "a._b", "a_.b", "a.-b", "a-.b", "a__b", "a--b", "a-_b", "a_-b", "a.b_blobs", "a", "a.blobs"];
    const buckets = prefixes.map((p) => objectBucket(p));
    expect(new Set(buckets).size).toBe(prefixes.length);
  });
});
