// How many compute threads and wasm threads a worker starts, from its options alone
// (src/worker/thread-plan.ts): the embedded default caps CPU workers' cores (--cpu-cores)
// without multiplying a GPU worker's threads; an explicit count wins everywhere. The
// machine's core count is given, so nothing here depends on the machine or the environment.

import { describe, expect, it } from "vitest";
import { computeThreadCount, wasmThreadsPerComputeThread } from "../../src/worker/thread-plan.js";
import { MAX_WASM_THREADS } from "../../src/worker/wasm/threads.js";

const wasm = { backend: "wasm", gpu: false };
const cpu = { backend: "cpu", gpu: false };
const webgpu = { backend: "webgpu", gpu: true };
const webgpuSoftware = { backend: "webgpu", gpu: false };
const cuda = { backend: "tensorflow", gpu: true };
const libtensorflowCpu = { backend: "tensorflow", gpu: false };
const CORES = 16;

describe("computeThreadCount", () => {
  it("auto: every core on the wasm and cpu backends, one thread on a GPU", () => {
    const auto = { computeThreads: "auto" as const };
    expect(computeThreadCount(auto, wasm, CORES)).toBe(CORES);
    expect(computeThreadCount(auto, cpu, CORES)).toBe(CORES);
    expect(computeThreadCount(auto, webgpu, CORES)).toBe(1);
    expect(computeThreadCount(auto, cuda, CORES)).toBe(1);
  });

  it("auto: one thread where the backend threads itself or is a software adapter", () => {
    const auto = { computeThreads: "auto" as const };
    expect(computeThreadCount(auto, libtensorflowCpu, CORES)).toBe(1);
    expect(computeThreadCount(auto, webgpuSoftware, CORES)).toBe(1);
  });

  it("a GPU worker keeps one compute thread; cpu cores cap CPU backends only", () => {
    const capped = { computeThreads: "auto" as const, cpuCores: 3 };
    expect(computeThreadCount(capped, wasm, CORES)).toBe(3);
    expect(computeThreadCount(capped, cpu, CORES)).toBe(3);
    expect(computeThreadCount(capped, webgpu, CORES)).toBe(1);
    expect(computeThreadCount(capped, cuda, CORES)).toBe(1);
  });

  it("an explicit count wins everywhere, over cpu cores too", () => {
    const five = { computeThreads: 5, cpuCores: 3 };
    expect(computeThreadCount(five, wasm, CORES)).toBe(5);
    expect(computeThreadCount(five, webgpu, CORES)).toBe(5);
  });
});

describe("wasmThreadsPerComputeThread", () => {
  it("one wasm thread each where several compute threads may run", () => {
    expect(wasmThreadsPerComputeThread({ computeThreads: "auto" }, CORES)).toBe(1);
    expect(wasmThreadsPerComputeThread({ computeThreads: 2 }, CORES)).toBe(1);
  });

  it("a single compute thread takes the cores it may use, at most MAX_WASM_THREADS", () => {
    expect(wasmThreadsPerComputeThread({ computeThreads: 1 }, 4)).toBe(4);
    expect(wasmThreadsPerComputeThread({ computeThreads: 1 }, CORES)).toBe(MAX_WASM_THREADS);
    expect(wasmThreadsPerComputeThread({ computeThreads: 1, cpuCores: 3 }, CORES)).toBe(3);
  });

  it("an explicit count wins", () => {
    expect(wasmThreadsPerComputeThread({ computeThreads: "auto", wasmThreads: 2 }, CORES)).toBe(2);
    expect(wasmThreadsPerComputeThread({ computeThreads: 1, cpuCores: 3, wasmThreads: 1 }, CORES)).toBe(1);
  });
});
