// The two user-facing commands as a user runs them: `coordinator run` on the embedded
// default (its own nats-server and local workers), `coordinator verify` on its output,
// and the ways a run must stop cleanly: a bad config, no nats-server, Ctrl-C.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { MEASURE_NAMES } from "../../src/coordinator/estimators/index.js";
import { distFile } from "../../src/util/package-root.js";

const CLI = distFile("coordinator/cli.js");
const tmp = mkdtempSync(join(tmpdir(), "gradswarm-cli-"));

function coordinator(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 120_000 });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("coordinator run on the embedded default", () => {
  const out = join(tmp, "quickstart");

  it("runs examples/quickstart.yaml, prints the measures and writes the outputs", () => {
    const r = coordinator(["run", "examples/quickstart.yaml", "--out", out]);
    expect(r.stderr).toContain("embedded nats-server");
    expect(r.stderr).toMatch(/pairs 256\/256/);
    expect(r.status, r.stderr).toBe(0);
    // Nothing refused: e.g. the server's "no responders" to the worker.list sent before the local workers listen.
    expect(r.stderr).not.toMatch(/refused a message/);
    for (const m of MEASURE_NAMES) expect(r.stdout).toContain(m);
    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    for (const m of MEASURE_NAMES) {
      expect(results.measures[m]).toMatchObject({ n: 256 });
      expect(Object.keys(results.measures[m])).toEqual(expect.arrayContaining(["mean", "stderr", "ci95", "n"]));
    }
    expect(results.gradient_confusion).toMatchObject({ n: 256 });
    expect(results.gradient_confusion.eta).toBe(Math.max(0, -results.gradient_confusion.min_dot));
    expect(Object.keys(results.layers)).toEqual(["dense_1", "dense_2"]);
    // Workers report per weight tensor; results.json has both views.
    expect(Object.keys(results.tensors)).toEqual(["dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias"]);
    expect(results.run.snapshot.gradient_tensors).toEqual(Object.keys(results.tensors));
    expect(results.run.seed).toBe(7);
    expect(results.run.dataset.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(results.run.snapshot.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(results.run.workers.map((w: { backend: string }) => w.backend)).toEqual(expect.arrayContaining([expect.any(String)]));
    const pairs = readFileSync(join(out, "pairs.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(pairs).toHaveLength(256);
    expect(Object.keys(pairs[0])).toEqual(expect.arrayContaining(["pair", "batches", "loss", "norm", "dot"]));
    expect(pairs[0].batches[0]).toHaveLength(32);
    expect(existsSync(join(out, "model.json")) && existsSync(join(out, "weights.bin"))).toBe(true);
  });

  it("agrees with an independent float64 recomputation to 1e-4", () => {
    const r = coordinator(["verify", out, "--tolerance", "1e-4"]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("pairs recomputed: 256");
    expect(r.stdout).toContain("agrees with float64");
  });

  it("measures a TensorFlow.js layers model given by path: the saved θ gives the same numbers", () => {
    const cfg = join(tmp, "layers.yaml");
    writeFileSync(
      cfg,
      readFileSync(resolve("examples/quickstart.yaml"), "utf8")
        .replace(/model:[\s\S]*?data:/, `model:\n  kind: layers\n  path: ${join(out, "model.json")}\ndata:`)
        .replace(/data\//g, `${resolve("examples/data")}/`),
    );
    const r = coordinator(["run", cfg, "--out", join(tmp, "layers-out")]);
    expect(r.status, r.stderr).toBe(0);
    const a = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    const b = JSON.parse(readFileSync(join(tmp, "layers-out", "results.json"), "utf8"));
    expect(b.run.snapshot.hash).toBe(a.run.snapshot.hash);
    expect(b.measures).toEqual(a.measures);
    expect(b.layers).toEqual(a.layers);
  });
});

describe("coordinator run on the small CNN", () => {
  it("runs examples/cnn.yaml (conv gradients; on wasm here), per layer and per tensor", () => {
    const out = join(tmp, "cnn");
    const r = coordinator(["run", "examples/cnn.yaml", "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    expect(Object.keys(results.layers)).toEqual(["conv2d_1", "conv2d_2", "dense_1"]);
    expect(Object.keys(results.tensors)).toContain("conv2d_1/kernel");
    for (const m of MEASURE_NAMES) expect(results.measures[m].n).toBe(64);
  });
});

describe("coordinator run stops cleanly", () => {
  it("on a bad config: exit 2, the field and line named, nothing started", () => {
    const bad = join(tmp, "bad.yaml");
    writeFileSync(bad, "model:\n  kind: mlp\n  layers: [784, 10]\ndata:\n  kind: mnist\npairs:\n  count: 10\n  batch_sise: 8\n");
    const r = coordinator(["run", bad, "--out", join(tmp, "bad-out")]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("pairs.batch_sise (line 8, column 3): unknown key");
    expect(r.stderr).toContain("pairs.batch_size");
    expect(existsSync(join(tmp, "bad-out"))).toBe(false);
  });

  it("without nats-server: says how to install it", () => {
    const r = coordinator(["run", "examples/quickstart.yaml", "--out", join(tmp, "no-server")], { GRADSWARM_NATS_SERVER: join(tmp, "no-such-binary") });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("apt-get install -y nats-server");
  });

  // Local workers asked for libtensorflow, which is not installed here, all exit at start.
  const hasLibtensorflow = ["@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu"].some((p) => {
    try {
      createRequire(import.meta.url).resolve(p);
      return true;
    } catch {
      return false;
    }
  });
  it.skipIf(hasLibtensorflow)("when every local worker exits: exit 1 at once, with their logs", () => {
    const cfg = join(tmp, "no-backend.yaml");
    writeFileSync(cfg, readFileSync(resolve("examples/quickstart.yaml"), "utf8").replace("local: 2", "local: 2\n  backend: tensorflow").replace(/data\//g, `${resolve("examples/data")}/`));
    // workers.wait_s is 300 s and spawnSync gives up after 120 s: a status of 1 means the
    // coordinator noticed the exits instead of waiting.
    const r = coordinator(["run", cfg, "--out", join(tmp, "no-backend")]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("all 2 local workers exited");
    expect(r.stderr).toContain('backend "tensorflow" is not available');
  });

  it("on Ctrl-C: exit 130, and the embedded server and workers are gone", async () => {
    const cfg = join(tmp, "long.yaml");
    writeFileSync(cfg, readFileSync(resolve("examples/quickstart.yaml"), "utf8").replace("count: 256", "count: 100000").replace(/data\//g, `${resolve("examples/data")}/`));
    const child = spawn(process.execPath, [CLI, "run", cfg, "--out", join(tmp, "interrupted")], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const deadline = Date.now() + 60_000;
    while (!/pairs [1-9]\d*\//.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const children = spawnSync("ps", ["-o", "pid=", "--ppid", String(child.pid)], { encoding: "utf8" })
      .stdout.trim()
      .split("\n")
      .map(Number)
      .filter((p) => p > 0);
    expect(children.length).toBeGreaterThanOrEqual(3); // nats-server and two workers
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(stderr).toContain("interrupted");
    await new Promise((r) => setTimeout(r, 200));
    expect(children.filter(alive)).toEqual([]);
  });
});
