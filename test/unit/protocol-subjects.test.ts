import { describe, expect, it } from "vitest";
import { DEFAULT_PREFIX, ProtocolError, objectBucket, subjects, validatePrefix } from "../../src/protocol/index.js";

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
      pull: "gradswarm.alice.task.pull",
      result: "gradswarm.alice.task.result",
      chunk: "gradswarm.alice.task.chunk",
      error: "gradswarm.alice.task.error",
      heartbeat: "gradswarm.alice.worker.heartbeat",
      announce: "gradswarm.alice.worker.announce",
      list: "gradswarm.alice.worker.list",
    });
  });

  it("defaults to gradswarm", () => {
    expect(DEFAULT_PREFIX).toBe("gradswarm");
    expect(subjects().pull).toBe("gradswarm.task.pull");
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
    expect(subjects("_".repeat(128)).pull).toBe(`${"_".repeat(128)}.task.pull`);
    expect(prefixError(() => objectBucket("_".repeat(128))).field).toBe("prefix");
  });

  it("never maps two prefixes to the same bucket", () => {
    const prefixes = ["a.b", "a_b", "a-b", "a._b", "a_.b", "a.-b", "a-.b", "a__b", "a--b", "a-_b", "a_-b", "a.b_blobs", "a", "a.blobs"];
    const buckets = prefixes.map((p) => objectBucket(p));
    expect(new Set(buckets).size).toBe(prefixes.length);
  });
});
