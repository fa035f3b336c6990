// How many compute threads `--compute-threads auto` starts, from the backend and the
// environment: the embedded default caps CPU workers' cores (GRADSWARM_CPU_CORES) without
// multiplying a GPU worker's threads; GRADSWARM_COMPUTE_THREADS is the user's override.

import { availableParallelism } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { autoComputeThreads } from "../../src/worker/compute-pool.js";

const wasm = { backend: "wasm", device: "CPU (wasm)", skipped: [] };
const cpu = { backend: "cpu", device: "CPU (pure JS)", skipped: [] };
const webgpu = { backend: "webgpu", device: "NVIDIA H200", skipped: [] };
const saved = { threads: process.env.GRADSWARM_COMPUTE_THREADS, cores: process.env.GRADSWARM_CPU_CORES };

function env(threads?: string, cores?: string): void {
  if (threads === undefined) delete process.env.GRADSWARM_COMPUTE_THREADS;
  else process.env.GRADSWARM_COMPUTE_THREADS = threads;
  if (cores === undefined) delete process.env.GRADSWARM_CPU_CORES;
  else process.env.GRADSWARM_CPU_CORES = cores;
}

describe("autoComputeThreads", () => {
  afterEach(() => env(saved.threads, saved.cores));

  it("takes every core on CPU backends and one thread on a GPU", () => {
    env();
    expect(autoComputeThreads(wasm)).toBe(availableParallelism());
    expect(autoComputeThreads(cpu)).toBe(availableParallelism());
    expect(autoComputeThreads(webgpu)).toBe(1);
  });

  it("GRADSWARM_CPU_CORES caps CPU workers only", () => {
    env(undefined, "3");
    expect(autoComputeThreads(wasm)).toBe(3);
    expect(autoComputeThreads(webgpu)).toBe(1);
  });

  it("GRADSWARM_COMPUTE_THREADS wins everywhere", () => {
    env("5", "3");
    expect(autoComputeThreads(wasm)).toBe(5);
    expect(autoComputeThreads(webgpu)).toBe(5);
  });

  it("ignores values that are not positive integers", () => {
    for (const bad of ["0", "-2", "1.5", "many", ""]) {
      env(bad, bad);
      expect(autoComputeThreads(wasm)).toBe(availableParallelism());
      expect(autoComputeThreads(webgpu)).toBe(1);
    }
  });
});
