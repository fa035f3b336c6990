// Three nats-server processes as one JetStream cluster (the project's own launcher, each
// node on a free client port, a free cluster port and a free monitoring port), for the
// fault tests that kill a node. Also: a free TCP port, to start (and restart) a server on
// a port chosen in advance.

import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, type NatsServerHandle } from "../../src/nats/server-process.js";

/** A TCP port free on 127.0.0.1 right now (the kernel's pick; released before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("no port"))));
    });
  });
}

export interface ClusterNode {
  name: string;
  /** The node's client URL. */
  url: string;
  clusterPort: number;
  monitorPort: number;
  storeDir: string;
  server: NatsServerHandle;
  /** False once killed or stopped. */
  up: boolean;
}

export interface NatsCluster {
  nodes: ClusterNode[];
  /** All client URLs, comma-separated: what `--nats` and the coordinator's URL take. */
  urls: string;
  /** A connection that knows every node and reconnects forever (for watching heartbeats). */
  nc: NatsConnection;
  /** The node that holds a client connection named `name` (from each node's /connz), or null. */
  nodeWithClient(name: string): Promise<ClusterNode | null>;
  /** SIGKILLs node `i`, keeping its store. */
  kill(i: number): Promise<void>;
  close(): Promise<void>;
}

async function startNode(name: string, clusterPorts: number[], i: number, monitorPort: number, storeDir: string): Promise<NatsServerHandle> {
  const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`).join(",");
  return startNatsServer({
    storeDir,
    args: ["--server_name", name, "--cluster_name", "gs", "--cluster", `nats://127.0.0.1:${clusterPorts[i]}`, "--routes", routes, "-m", String(monitorPort)],
  });
}

/**
 * Starts a 3-node JetStream cluster and resolves once it can create an object store with
 * 3 replicas (JetStream has a meta leader and every node takes part).
 */
export async function startNatsCluster(readyTimeoutMs = 30_000): Promise<NatsCluster> {
  const work = mkdtempSync(join(tmpdir(), "gradswarm-cluster-"));
  const clusterPorts: number[] = [];
  const monitorPorts: number[] = [];
  // Distinct picks: the kernel may hand back a port it just gave us.
  while (clusterPorts.length + monitorPorts.length < 6) {
    const p = await freePort();
    if (clusterPorts.includes(p) || monitorPorts.includes(p)) continue;
    (clusterPorts.length < 3 ? clusterPorts : monitorPorts).push(p);
  }
  const nodes: ClusterNode[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const name = `n${i + 1}`;
      const storeDir = join(work, name);
      const server = await startNode(name, clusterPorts, i, monitorPorts[i]!, storeDir);
      nodes.push({ name, url: server.url, clusterPort: clusterPorts[i]!, monitorPort: monitorPorts[i]!, storeDir, server, up: true });
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.server.stop()));
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  const urls = nodes.map((n) => n.url).join(",");
  const nc = await connect({ servers: nodes.map((n) => n.url), maxReconnectAttempts: -1, reconnectTimeWait: 250 });

  const cluster: NatsCluster = {
    nodes,
    urls,
    nc,
    async nodeWithClient(client: string) {
      for (const node of nodes) {
        if (!node.up) continue;
        try {
          const res = await fetch(`http://127.0.0.1:${node.monitorPort}/connz?limit=1024`);
          const body = (await res.json()) as { connections?: { name?: string }[] };
          if (body.connections?.some((c) => c.name === client)) return node;
        } catch {
          // a node that does not answer holds nobody we can kill
        }
      }
      return null;
    },
    async kill(i: number) {
      nodes[i]!.up = false;
      await nodes[i]!.server.kill();
    },
    async close() {
      await nc.close().catch(() => undefined);
      await Promise.all(nodes.map((n) => ((n.up = false), n.server.stop())));
      rmSync(work, { recursive: true, force: true });
    },
  };

  // Ready when an R3 object store can be created (and removed): the meta leader is
  // elected and the routes are up. Until then JetStream API calls fail or time out.
  const deadline = Date.now() + readyTimeoutMs;
  const bucket = `cluster-ready-${process.pid}`;
  let last: unknown = null;
  for (;;) {
    try {
      const objm = new Objm(jetstream(nc, { timeout: 2000 }));
      const os = await objm.create(bucket, { replicas: 3 });
      await os.destroy();
      break;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      await cluster.close();
      throw new Error(`the 3-node NATS cluster had no JetStream within ${readyTimeoutMs} ms: ${(last as Error)?.message}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // Make sure the bucket's stream is really gone (a destroy racing an election may not be).
  const jsm = await jetstreamManager(nc, { timeout: 2000 });
  await jsm.streams.delete(`OBJ_${bucket}`).catch(() => undefined);
  return cluster;
}
