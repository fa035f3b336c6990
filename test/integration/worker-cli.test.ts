// The worker's command line as a user meets it (dist/worker/cli.js, build first): argument
// errors exit 2 and name what was wrong, the GRADSWARM_* variables stand for their options
// and are checked the same way, a worker that was not asked for webgpu says nothing about
// Vulkan on a machine without a GPU, and the embedded default's local workers split the
// machine's cores through --cpu-cores.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { localWorkerCores, LocalSwarm } from "../../src/coordinator/local-swarm.js";
import { subjects } from "../../src/protocol/index.js";
import { distFile } from "../../src/util/package-root.js";
import { uniquePrefix } from "../helpers/nats.js";
import { natsSuite } from "../helpers/nats-suite.js";
import { spawnWorker, stopWorkers, waitForHeartbeats } from "../helpers/workers.js";

const CLI = distFile("worker/cli.js");
/** A URL nothing listens on: argument errors must stop the worker before it connects. */
const NOWHERE = "nats://127.0.0.1:1";

function worker(args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean = { ...process.env };
  for (const k of Object.keys(clean)) if (k.startsWith("GRADSWARM_")) delete clean[k];
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...clean, ...env }, timeout: 30_000 });
}

describe("worker argument errors exit 2 and name the argument", () => {
  const cases: [string, string[], NodeJS.ProcessEnv, RegExp[]][] = [
    ["an unknown backend", ["--nats", NOWHERE, "--backend", "gpu"], {}, [/--backend/, /'gpu'/]],
    ["a missing --nats", ["--backend", "cpu"], {}, [/--nats/]],
    ["an unknown option", ["--nats", NOWHERE, "--bogus"], {}, [/--bogus/]],
    ["a bad --conv-grad", ["--nats", NOWHERE, "--conv-grad", "fast"], {}, [/--conv-grad/, /'fast'/]],
    ["a bad --wasm-threads", ["--nats", NOWHERE, "--wasm-threads", "0"], {}, [/--wasm-threads/]],
    ["a bad GRADSWARM_WEBGPU_CONV_GRAD", ["--nats", NOWHERE], { GRADSWARM_WEBGPU_CONV_GRAD: "fast" }, [/GRADSWARM_WEBGPU_CONV_GRAD/, /'fast'/]],
    ["a bad GRADSWARM_CPU_CORES", ["--nats", NOWHERE], { GRADSWARM_CPU_CORES: "0" }, [/GRADSWARM_CPU_CORES/]],
    ["a --tls-cert without --tls-key", ["--nats", NOWHERE, "--tls-cert", "c.pem"], {}, [/worker: --tls-cert is given without the key/]],
    ["a --password-file that is not there", ["--nats", NOWHERE, "--user", "u", "--password-file", "/nonexistent/pw"], {}, [/worker: --password-file \/nonexistent\/pw: cannot read the password: ENOENT/]],
    ["two ways to log in", ["--nats", "nats://tok@127.0.0.1:1", "--user", "u"], { GRADSWARM_NATS_PASSWORD: "p" }, [/worker: several ways to log in are given \(user u, a token\)/]],
    ["--creds and --nkey-seed-file", ["--nats", NOWHERE, "--creds", "/nonexistent/c", "--nkey-seed-file", "/nonexistent/s"], {}, [/--nkey-seed-file \/nonexistent\/s: cannot read the NKey seed/]],
    ["a bad GRADSWARM_COMPUTE_THREADS", ["--nats", NOWHERE], { GRADSWARM_COMPUTE_THREADS: "many" }, [/GRADSWARM_COMPUTE_THREADS/, /'many'/]],
  ];
  it.each(cases)("%s", (_name, args, env, names) => {
    const r = worker(args, env);
    expect(r.error).toBeUndefined();
    expect(r.status, r.stderr).toBe(2);
    for (const n of names) expect(r.stderr).toMatch(n);
  });

  it("--help exits 0 and documents the environment variables", () => {
    const r = worker(["--help"]);
    expect(r.status, r.stderr).toBe(0);
    for (const v of ["GRADSWARM_COMPUTE_THREADS", "GRADSWARM_CPU_CORES", "GRADSWARM_WASM_THREADS", "GRADSWARM_WEBGPU_CONV_GRAD", "GRADSWARM_NATS_PASSWORD", "GRADSWARM_NATS_TOKEN"]) expect(r.stdout).toContain(v);
    for (const flag of ["--user", "--password-file", "--token-file", "--nkey-seed-file", "--creds", "--tls-ca", "--tls-cert", "--tls-key"]) expect(r.stdout).toContain(flag);
  });
});

/** Device nodes through which Dawn could reach a GPU here (as src/worker/backend.ts looks). */
function gpuDeviceNodes(): boolean {
  const dri = existsSync("/dev/dri") && readdirSync("/dev/dri").some((n) => /^renderD\d+$/.test(n));
  return dri || readdirSync("/dev").some((n) => /^nvidia\d+$/.test(n)) || existsSync("/dev/dxg");
}

describe("workers against a real nats-server", () => {
  const suite = natsSuite();

  it.skipIf(process.platform !== "linux" || gpuDeviceNodes())("--backend auto on a machine without a GPU prints nothing about Vulkan, and says why webgpu was passed over", async () => {
    const prefix = uniquePrefix("auto");
    const w = spawnWorker(suite.nats.server.url, prefix, "auto-w", ["--backend", "auto"]);
    suite.workers.push(w);
    await waitForHeartbeats(suite.nats.nc, subjects(prefix).heartbeat, [w.id], 60_000);
    await stopWorkers([w]);
    expect(w.output()).toMatch(/backend passed over: webgpu: no GPU device/);
    expect(w.output()).not.toMatch(/vulkan/i);
  });

  it("the embedded default's local workers split the cores with --cpu-cores", async () => {
    const prefix = uniquePrefix("local");
    const logDir = mkdtempSync(join(tmpdir(), "gradswarm-local-swarm-"));
    const swarm = new LocalSwarm({ count: 2, natsUrl: suite.nats.server.url, prefix, backend: "cpu", logDir });
    swarm.start();
    try {
      await waitForHeartbeats(suite.nats.nc, subjects(prefix).heartbeat, swarm.workers.map((w) => w.id), 60_000);
    } finally {
      await swarm.stop();
    }
    const each = localWorkerCores(availableParallelism(), 2);
    for (const w of swarm.workers) {
      const log = readFileSync(w.logFile, "utf8");
      expect(log, w.logFile).toContain(`backend cpu on CPU (pure JS), ${each} compute thread${each === 1 ? "" : "s"};`);
    }
  });
});
