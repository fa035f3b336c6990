// Separate hosts on one machine: Linux network namespaces (iproute2's `ip netns`), one per
// host, each with its own address on a 10.213.N.0/24 network. Every host's `eth0` is one
// end of a veth pair whose other end is a port of a bridge; the bridge lives in a namespace
// of its own, so that the machine's own firewall and bridge settings never see the traffic.
// The test process (the root namespace) is one more host on the network, at .1, so that it
// can watch heartbeats and play a client of its own.
//
// Processes run on a host with `ip netns exec NS CMD`, which execs CMD (the child's pid is
// CMD's). Cutting a host's link (`ip link set eth0 down` in its namespace) is a machine
// that drops off the network without closing its connections: nothing tells the peers.
//
// Names carry the test process's pid (`gswarm-<pid>-...`), so a crashed run never blocks
// the next; namespaces left by a process that is gone are removed on the next start.

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { terminate } from "../../src/util/child-process.js";

const NS_PREFIX = "gswarm";
/** The network's first two octets; the third is chosen per network, free on this machine. */
const NET = "10.213";

/** iproute2's `ip`: on PATH, else where Debian installs it (sbin is not on every PATH); null when absent. */
const FOUND_IP = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
  .map((d) => join(d, "ip"))
  .find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }) ?? null;
/** What is run: a missing `ip` fails each call with ENOENT, reported by ip() below. */
const IP = FOUND_IP ?? "ip";

function ip(args: string[], what: string): string {
  const r = spawnSync(IP, args, { encoding: "utf8" });
  if (r.error) throw new Error(`${what}: cannot run ip (iproute2): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what}: \`ip ${args.join(" ")}\` exited with ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/**
 * Why separate hosts cannot be built here (not root, no iproute2, namespaces refused),
 * or null when they can: a namespace is created and deleted to find out.
 */
export function netnsUnavailable(): string | null {
  if (process.platform !== "linux") return `network namespaces are Linux only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return `network namespaces need root (uid is ${process.getuid?.()})`;
  if (!FOUND_IP) return "`ip` (iproute2) is not installed";
  const probe = `${NS_PREFIX}-${process.pid}-probe`;
  const add = spawnSync(IP, ["netns", "add", probe], { encoding: "utf8" });
  if (add.status !== 0) return `\`ip netns add\` failed: ${(add.stderr || add.stdout).trim()}`;
  spawnSync(IP, ["netns", "del", probe]);
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Kills what still runs in a namespace of ours (by pid) and deletes the namespace. */
function removeNamespace(ns: string): void {
  const pids = spawnSync(IP, ["netns", "pids", ns], { encoding: "utf8" }).stdout ?? "";
  for (const p of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), "SIGKILL");
    } catch {
      // gone already
    }
  }
  spawnSync(IP, ["netns", "del", ns]);
}

/** Namespaces of an earlier test process that is gone (a crash, a SIGKILLed vitest). */
function removeStaleNamespaces(): void {
  const list = spawnSync(IP, ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const m = new RegExp(`^${NS_PREFIX}-(\\d+)-`).exec(name);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) removeNamespace(name);
  }
}

/** A third octet no address or route of the root namespace uses yet. */
function freeSubnet(seed: number): string {
  const used = ip(["-4", "-o", "addr", "show"], "listing addresses") + ip(["-4", "route", "show"], "listing routes");
  for (let i = 0; i < 250; i++) {
    const octet = 1 + ((seed + i) % 250);
    if (!used.includes(`${NET}.${octet}.`)) return `${NET}.${octet}`;
  }
  throw new Error(`no free ${NET}.N.0/24 network on this machine`);
}

export interface NetHost {
  name: string;
  /** The namespace, for `ip netns exec`. */
  ns: string;
  /** The host's address on the network. */
  ip: string;
}

export interface Network {
  hosts: Record<string, NetHost>;
  /** The test process's own address on the network. */
  selfIp: string;
  /** Starts `command` on `host` (`ip netns exec`); stopped by destroy() if still running. */
  spawn(host: string, command: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** Takes the host's link down: it drops off the network, its connections left hanging. */
  cut(host: string): void;
  /** Stops every process started here and removes the namespaces and links. Never throws. */
  destroy(): Promise<void>;
}

let networks = 0;

/** Builds a network of `hostNames` (each its own namespace and address, .10 upwards) plus the test process at .1. */
export function createNetwork(label: string, hostNames: string[]): Network {
  removeStaleNamespaces();
  const n = ++networks;
  const base = `${NS_PREFIX}-${process.pid}-${n}`;
  const switchNs = `${base}-switch`;
  const subnet = freeSubnet(process.pid + n);
  const hosts: Record<string, NetHost> = {};
  const made: string[] = [];
  const children: ChildProcess[] = [];
  // Interface names are at most 15 characters; this one lives in the root namespace.
  const selfLink = `gsw${process.pid}r${n}`;
  const destroy = async () => {
    await Promise.all(children.map((c) => terminate(c, 5000).catch(() => undefined)));
    spawnSync(IP, ["link", "del", selfLink]);
    for (const ns of made.reverse()) removeNamespace(ns);
  };
  try {
    ip(["netns", "add", switchNs], `network ${label}: the switch`);
    made.push(switchNs);
    ip(["-n", switchNs, "link", "add", "br0", "type", "bridge"], `network ${label}: the bridge`);
    ip(["-n", switchNs, "link", "set", "br0", "up"], `network ${label}: the bridge`);
    const port = (name: string, what: string) => {
      ip(["-n", switchNs, "link", "set", name, "master", "br0"], what);
      ip(["-n", switchNs, "link", "set", name, "up"], what);
    };
    hostNames.forEach((name, i) => {
      const ns = `${base}-${name}`;
      const address = `${subnet}.${10 + i}`;
      const what = `network ${label}: host ${name} (${address})`;
      ip(["netns", "add", ns], what);
      made.push(ns);
      ip(["link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", `p${i}`, "netns", switchNs], what);
      port(`p${i}`, what);
      ip(["-n", ns, "addr", "add", `${address}/24`, "dev", "eth0"], what);
      ip(["-n", ns, "link", "set", "eth0", "up"], what);
      ip(["-n", ns, "link", "set", "lo", "up"], what);
      hosts[name] = { name, ns, ip: address };
    });
    const selfIp = `${subnet}.1`;
    ip(["link", "add", selfLink, "type", "veth", "peer", "name", "self", "netns", switchNs], `network ${label}: the test process's link`);
    port("self", `network ${label}: the test process's link`);
    ip(["addr", "add", `${selfIp}/24`, "dev", selfLink], `network ${label}: the test process's address`);
    ip(["link", "set", selfLink, "up"], `network ${label}: the test process's link`);
    const hostOf = (name: string) => {
      const h = hosts[name];
      if (!h) throw new Error(`network ${label}: no host ${JSON.stringify(name)} (hosts: ${hostNames.join(", ")})`);
      return h;
    };
    return {
      hosts,
      selfIp,
      spawn(host, command, args, options = {}) {
        const child = spawn(IP, ["netns", "exec", hostOf(host).ns, command, ...args], options);
        children.push(child);
        return child;
      },
      cut(host) {
        ip(["-n", hostOf(host).ns, "link", "set", "eth0", "down"], `network ${label}: cutting ${host}'s link`);
      },
      destroy,
    };
  } catch (err) {
    void destroy();
    throw err;
  }
}
