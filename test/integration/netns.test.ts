// Separate hosts for real: nats-server, the coordinator and three workers each in a network
// namespace of their own, with their own address on one bridged network
// (test/helpers/netns.ts), the programs started as users start them (`ip netns exec HOST
// node dist/...`). Two things only separate machines show:
//
// 1. A worker whose machine drops off the network mid-run (its link taken down, no
//    connection closed, nothing told to anyone) holds its lease until the lease runs out;
//    the run finishes without it, with exactly the numbers of a clean run.
// 2. deploy/nats as shipped (server.conf and permissions.conf) on a three-node cluster, a
//    node per host, coordinator and workers logged in under their roles; a client logged in
//    as a worker that poses as a coordinator (asks for the worker list, creates the
//    object-store stream, writes a blob, answers a pull in a worker's inbox, listens to all
//    the swarm's subjects) is refused each time, the server logs the refusals against that
//    client's address only, and the run's numbers do not change.
//
// Needs root and iproute2; skips otherwise, saying why.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect, type NatsConnection, type Status } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ResultsFile } from "../../src/coordinator/report/outputs.js";
import { findNatsServer } from "../../src/nats/server-process.js";
import { decodeWorkerHeartbeat, DEFAULT_PREFIX, objectBucket, subjects } from "../../src/protocol/index.js";
import { distFile } from "../../src/util/package-root.js";
import { exitWithin, journalLines, QUIET_MS, waitUntil, type CliRun } from "../chaos/fault-helpers.js";
import { ROLE_PASSWORD_VARIABLES, writeNodeConfig, type Role } from "../helpers/deploy-nats.js";
import { createNetwork, netnsUnavailable, type Network } from "../helpers/netns.js";

const unavailable = netnsUnavailable() ?? (findNatsServer() ? null : "nats-server is not installed");
if (unavailable) console.log(`[netns] skipped: ${unavailable}`);

const COORDINATOR = distFile("coordinator/cli.js");
const WORKER = distFile("worker/cli.js");
const EXAMPLE_DATA = resolve("examples/data");
/** deploy/nats/permissions.conf is written for the default prefix. */
const S = subjects(DEFAULT_PREFIX);
const BUCKET = objectBucket(DEFAULT_PREFIX);
const WORKER_HOSTS = ["w1", "w2", "w3"];
/** How nats-server logs a refused publish or subscription. */
const VIOLATION_LINE = /(Publish|Subscription) Violation/;

/**
 * 90 pairs of the 784-24-10 MLP on 2,000 digits in 30 tasks: long enough that a link can
 * go down with tasks done and tasks left; short leases, so that the lost one comes back soon.
 */
const CONFIG = `model: {kind: mlp, layers: [784, 24, 10], activation: tanh, seed: 3}
data: {kind: idx, images: ${join(EXAMPLE_DATA, "images-idx3-ubyte")}, labels: ${join(EXAMPLE_DATA, "labels-idx1-ubyte")}, limit: 2000}
pairs: {count: 90, batch_size: 32, seed: 11, per_task: 3}
workers: {local: 2, lease_s: 3, wait_s: 120, max_attempts: 8}
run: {stall_timeout_s: 120}
return: stats
`;

/** A process with its output kept (for failures) and its exit awaited. */
function track(child: ChildProcess): CliRun {
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { process: child, stdout: () => out, stderr: () => err, exited };
}

function outcome(dir: string): Pick<ResultsFile, "measures" | "layers" | "tensors" | "run"> {
  return JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as ResultsFile;
}

/** What must equal the clean run's, bit for bit. */
function numbers(dir: string): unknown {
  const r = outcome(dir);
  return { measures: r.measures, layers: r.layers, tensors: r.tensors };
}

/** Connects from the test process, trying again until the server is up (it follows the server's own start). */
async function connectWhenUp(servers: string[], what: string, options: { user?: string; pass?: string } = {}): Promise<NatsConnection> {
  let last: unknown;
  for (let i = 0; i < 600; i++) {
    try {
      return await connect({ servers, ...options, name: what });
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${what}: cannot connect to ${servers.join(",")}: ${(last as Error).message}`);
}

/** The permission violations a connection is told of (its status() stream), as they come. */
function violations(nc: NatsConnection): { operation: string; subject: string }[] {
  const seen: { operation: string; subject: string }[] = [];
  void (async () => {
    for await (const s of nc.status() as AsyncIterable<Status>) {
      if (s.type !== "error") continue;
      const e = s.error as { name?: string; operation?: string; subject?: string };
      if (e.name === "PermissionViolationError") seen.push({ operation: e.operation ?? "", subject: e.subject ?? "" });
    }
  })();
  return seen;
}

/**
 * Resolves once every node of a cluster sees a JetStream meta leader (asked on its
 * monitoring port from the test's host). Fails when a node exits, or when the servers'
 * logs have not moved for a while.
 */
async function untilNodesLead(net: Network, nodes: string[], servers: Record<string, CliRun>, progress: () => number): Promise<void> {
  let last = progress();
  let movedAt = Date.now();
  for (;;) {
    const missing: string[] = [];
    for (const node of nodes) {
      const exited = servers[node]!.process.exitCode;
      if (exited !== null) throw new Error(`nats-server ${node} exited with code ${exited}: ${servers[node]!.stderr().slice(-2000)}`);
      const leader = await fetch(`http://${net.hosts[node]!.ip}:8222/jsz`)
        .then((r) => r.json() as Promise<{ meta_cluster?: { leader?: string } }>)
        .then((b) => b.meta_cluster?.leader)
        .catch(() => undefined);
      if (!leader) missing.push(node);
    }
    if (missing.length === 0) return;
    const now = progress();
    if (now !== last) [last, movedAt] = [now, Date.now()];
    else if (Date.now() - movedAt > QUIET_MS) throw new Error(`no JetStream meta leader on ${missing.join(", ")}, and nothing logged for ${QUIET_MS} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(unavailable !== null)("separate hosts (network namespaces)", () => {
  let tmp: string;
  let configFile: string;
  let clean: unknown;
  const networks: Network[] = [];
  const connections: NatsConnection[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "gradswarm-netns-"));
    configFile = join(tmp, "run.yaml");
    writeFileSync(configFile, CONFIG);
    // The clean run: the same config on the embedded default, on this machine's loopback.
    const run = track(spawn(process.execPath, [COORDINATOR, "run", configFile, "--out", join(tmp, "clean")], { stdio: ["ignore", "pipe", "pipe"] }));
    const code = await exitWithin(run, "the clean run");
    expect(code, run.stderr()).toBe(0);
    clean = numbers(join(tmp, "clean"));
  });

  afterAll(async () => {
    await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
    for (const net of networks) await net.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  function startWorkers(net: Network, url: string, extra: string[] = []): Record<string, CliRun> {
    const workers: Record<string, CliRun> = {};
    for (const host of WORKER_HOSTS) {
      const args = [WORKER, "--nats", url, "--id", `netns-${host}`, "--backend", "wasm", "--compute-threads", "1", ...extra];
      workers[host] = track(net.spawn(host, process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] }));
    }
    return workers;
  }

  function startCoordinator(net: Network, url: string, out: string, extra: string[] = []): CliRun {
    return track(net.spawn("coordinator", process.execPath, [COORDINATOR, "run", configFile, "--nats", url, "--out", out, ...extra], { stdio: ["ignore", "pipe", "pipe"] }));
  }

  function logs(runs: Record<string, CliRun>): string {
    return Object.entries(runs)
      .map(([name, r]) => `--- ${name} ---\n${r.stdout()}${r.stderr()}`)
      .join("\n");
  }

  it("a worker whose link goes down mid-run: the run finishes without it, with the clean run's numbers", async () => {
    const net = createNetwork("cut", ["nats", "coordinator", ...WORKER_HOSTS]);
    networks.push(net);
    const store = join(tmp, "cut-store");
    const server = track(net.spawn("nats", findNatsServer()!, ["-a", "0.0.0.0", "-p", "4222", "-js", "-sd", store], { stdio: ["ignore", "ignore", "pipe"] }));
    const url = `nats://${net.hosts.nats!.ip}:4222`;
    const nc = await connectWhenUp([url], "netns observer");
    connections.push(nc);

    const victim = "w3";
    const victimId = `netns-${victim}`;
    const workers = startWorkers(net, url);
    const out = join(tmp, "cut");
    // The cut: once the run has journaled a task, at the first heartbeat in which the
    // victim says it holds one (so that its lease is the one lost).
    let cutAt = null as { journal: number; task: string | null } | null;
    let cutError = null as Error | null;
    let beatsAfterCut = 0;
    const sub = nc.subscribe(S.heartbeat, {
      callback: (_err, msg) => {
        let hb;
        try {
          hb = decodeWorkerHeartbeat(msg.data);
        } catch {
          return;
        }
        if (hb.workerId !== victimId) return;
        if (cutAt) {
          beatsAfterCut++;
          return;
        }
        const journal = journalLines(out);
        if (journal >= 1 && hb.state === "busy" && !cutError) {
          try {
            net.cut(victim);
            cutAt = { journal, task: hb.taskId };
          } catch (err) {
            cutError = err as Error; // shown by the assertion below, not lost in a NATS callback
          }
        }
      },
    });
    const coordinator = startCoordinator(net, url, out);
    const all = { coordinator, ...workers, nats: server };
    const code = await exitWithin(coordinator, "the run with a link cut");
    sub.unsubscribe();
    expect(code, logs(all)).toBe(0);

    const r = outcome(out);
    console.log(
      `[netns cut] ${r.run.pairs.tasks} tasks; ${victim}'s link down after ${cutAt?.journal ?? "-"} journaled, while it held ${cutAt?.task ?? "-"}; ` +
        `leases expired ${r.run.faults.expiredLeases}; pairs by worker ${r.run.workers.map((w) => `${w.id} ${w.pairs}`).join(", ")}`,
    );
    expect(cutError?.message ?? null, "taking the victim's link down").toBeNull();
    expect(cutAt, `the victim's link was never cut (the run ended first)\n${logs(all)}`).not.toBeNull();
    // Mid-run: tasks were done before the cut and after it.
    expect(cutAt!.journal).toBeLessThan(r.run.pairs.tasks);
    // Off the network for good, but alive: not a crash, a lost machine.
    expect(beatsAfterCut, "heartbeats from the cut worker").toBe(0);
    expect(workers[victim]!.process.exitCode, "the cut worker still runs").toBeNull();
    expect(numbers(out)).toEqual(clean);
    expect(r.run.workers.reduce((s, w) => s + w.pairs, 0)).toBe(r.run.pairs.count);
  }, 600_000);

  it("deploy/nats on three nodes: a worker login posing as a coordinator is refused, and the run keeps the clean numbers", async () => {
    const nodes = ["nats-1", "nats-2", "nats-3"];
    const net = createNetwork("deploy", [...nodes, "coordinator", ...WORKER_HOSTS]);
    networks.push(net);
    const passwords: Record<Role, string> = {
      worker: `w${Math.random().toString(36).slice(2)}`,
      coordinator: `c${Math.random().toString(36).slice(2)}`,
    };
    // The roles' passwords reach the servers as compose.yaml passes them: in the environment.
    const env = { ...process.env, [ROLE_PASSWORD_VARIABLES.worker]: passwords.worker, [ROLE_PASSWORD_VARIABLES.coordinator]: passwords.coordinator };
    const routes = nodes.map((n) => `nats://${net.hosts[n]!.ip}:6222`).join(",");
    const logFiles: Record<string, string> = {};
    const servers: Record<string, CliRun> = {};
    for (const node of nodes) {
      const dir = join(tmp, "deploy", node);
      const config = writeNodeConfig(dir, join(dir, "store"), null);
      logFiles[node] = join(dir, "server.log");
      // Ports as shipped (each node has an address of its own); the routes by address, for
      // there is no DNS between the namespaces to resolve nats-1..3.
      servers[node] = track(net.spawn(node, findNatsServer()!, ["-c", config, "--server_name", node, "--routes", routes, "-l", logFiles[node]!], { stdio: ["ignore", "ignore", "pipe"], env }));
    }
    const serverLog = (node: string) => (existsSync(logFiles[node]!) ? readFileSync(logFiles[node]!, "utf8") : "");
    const serverLogs = () => nodes.map((n) => `--- ${n} ---\n${serverLog(n).slice(-3000)}`).join("\n");
    await untilNodesLead(net, nodes, servers, () => nodes.map(serverLog).join("").length).catch((err: Error) => {
      throw new Error(`${err.message}\n${serverLogs()}`, { cause: err });
    });

    const workerPassword = join(tmp, "worker-password");
    const coordinatorPassword = join(tmp, "coordinator-password");
    writeFileSync(workerPassword, `${passwords.worker}\n`, { mode: 0o600 });
    writeFileSync(coordinatorPassword, `${passwords.coordinator}\n`, { mode: 0o600 });
    const urls = nodes.map((n) => `nats://${net.hosts[n]!.ip}:4222`);
    const workers = startWorkers(net, urls.join(","), ["--user", "worker", "--password-file", workerPassword]);
    const out = join(tmp, "deploy-run");
    const coordinator = startCoordinator(net, urls.join(","), out, ["--user", "coordinator", "--password-file", coordinatorPassword]);
    const all = { coordinator, ...workers, ...servers };
    const running = () => coordinator.process.exitCode === null && coordinator.process.signalCode === null;

    // A worker's login on the test's own host, once the run has journaled a task.
    const intruder = await connectWhenUp(urls, "intruder", { user: "worker", pass: passwords.worker });
    connections.push(intruder);
    const seen = violations(intruder);
    await waitUntil(() => journalLines(out) >= 1 || !running(), "the run's first journaled task", () => coordinator.stderr().length + coordinator.stdout().length);
    expect(running(), `the run ended before the intruder could act\n${logs(all)}`).toBe(true);

    // The worker list is a coordinator's request: refused, and nats.js fails the request
    // with a RequestError whose cause is the server's permission violation.
    const listed = await intruder.request(S.list, "", { timeout: 30_000 }).then(
      () => null,
      (err: Error) => err,
    );
    expect(listed).toMatchObject({ name: "RequestError", cause: { name: "PermissionViolationError", operation: "publish", subject: S.list } });
    const refused: [string, string, () => void][] = [
      // Create (or replace) the object store's stream, and write a blob: only a coordinator keeps the store.
      ["publish", `$JS.API.STREAM.CREATE.OBJ_${BUCKET}`, () => intruder.publish(`$JS.API.STREAM.CREATE.OBJ_${BUCKET}`, "{}")],
      ["publish", `$O.${BUCKET}.M.forged`, () => intruder.publish(`$O.${BUCKET}.M.forged`, "x")],
      // Hand a worker a task as the coordinator does (a reply in the worker's inbox), unasked.
      ["publish", "_INBOX.forged-task", () => intruder.publish("_INBOX.forged-task", "x")],
      // Listen to everything the swarm says (pulls, results, heartbeats).
      ["subscription", `${DEFAULT_PREFIX}.>`, () => intruder.subscribe(`${DEFAULT_PREFIX}.>`)],
    ];
    for (const [operation, subject, act] of refused) {
      act();
      await intruder.flush();
      await waitUntil(
        () => seen.some((v) => v.operation === operation && v.subject === subject),
        `a permission violation for ${operation} ${subject}`,
        () => seen.length + journalLines(out),
      );
    }
    const journaledAfterIntruder = journalLines(out);
    const stillRunning = running();

    const code = await exitWithin(coordinator, "the run beside the intruder");
    expect(code, `${logs(all)}\n${serverLogs()}`).toBe(0);
    const r = outcome(out);
    const violationLines = nodes.flatMap((n) => serverLog(n).split("\n")).filter((l) => VIOLATION_LINE.test(l));
    console.log(
      `[netns deploy] ${r.run.pairs.tasks} tasks; intruder refused ${seen.length} times (${seen.map((v) => `${v.operation} ${v.subject}`).join(", ")}) ` +
        `with ${journaledAfterIntruder} tasks journaled, run still going: ${stillRunning}; pairs by worker ${r.run.workers.map((w) => `${w.id} ${w.pairs}`).join(", ")}`,
    );
    expect(stillRunning, "the intruder acted while the run went on").toBe(true);
    expect(numbers(out)).toEqual(clean);
    expect(r.run.workers.map((w) => w.id).sort()).toEqual(WORKER_HOSTS.map((h) => `netns-${h}`));
    expect(r.run.faults).toMatchObject({ rejectedResults: 0, taskErrors: 0 });
    // The servers refused the intruder's address, and only it: the real coordinator and
    // workers needed nothing their roles do not grant.
    expect(violationLines.length, serverLogs()).toBeGreaterThanOrEqual(refused.length + 1);
    for (const line of violationLines) expect(line).toContain(` ${net.selfIp}:`);
    for (const subject of [S.list, ...refused.map(([, s]) => s)]) expect(violationLines.some((l) => l.includes(`Subject "${subject}"`)), `the log names ${subject}`).toBe(true);
  }, 600_000);
});
