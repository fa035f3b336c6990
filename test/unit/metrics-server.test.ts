// The metrics HTTP server on a real socket: /metrics with the registry's content type,
// /ready 503 then 200, 404 elsewhere, a taken port refused by name, closed on stop.

import { Counter, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { MetricsServerError, parsePort, startMetricsServer, type MetricsServer } from "../../src/metrics/server.js";
import { syncedCounter } from "../../src/metrics/synced-counter.js";
import { parsePrometheusText, sampleValue } from "../helpers/prometheus-text.js";

const open: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function serve(registry: Registry, notReady?: () => string | null): Promise<MetricsServer> {
  const s = await startMetricsServer({ registry, port: 0, notReady });
  open.push(s);
  return s;
}

describe("metrics server", () => {
  it("serves the registry at /metrics with its content type, on the port it picked for 0", async () => {
    const registry = new Registry();
    new Counter({ name: "gradswarm_test_things_total", help: "Things.", registers: [registry] }).inc(3);
    const s = await serve(registry);
    expect(s.port).toBeGreaterThan(0);
    expect(s.url).toBe(`http://127.0.0.1:${s.port}/metrics`);
    const res = await fetch(s.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(registry.contentType);
    expect(registry.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain("# HELP gradswarm_test_things_total Things.");
    expect(sampleValue(parsePrometheusText(text), "gradswarm_test_things_total")).toBe(3);
  });

  it("answers 404 for any other path, and only GET and HEAD", async () => {
    const s = await serve(new Registry());
    const base = `http://127.0.0.1:${s.port}`;
    for (const path of ["/", "/metric", "/metrics/x", "/ready"]) expect((await fetch(base + path)).status, path).toBe(404);
    expect((await fetch(`${base}/metrics?x=1`)).status).toBe(200);
    expect((await fetch(s.url, { method: "HEAD" })).status).toBe(200);
    expect((await fetch(s.url, { method: "POST" })).status).toBe(405);
  });

  it("/ready is 503 with the reason until ready, then 200", async () => {
    let why: string | null = "loading the compute backend";
    const s = await serve(new Registry(), () => why);
    const ready = `http://127.0.0.1:${s.port}/ready`;
    const before = await fetch(ready);
    expect(before.status).toBe(503);
    expect(await before.text()).toBe("not ready: loading the compute backend\n");
    why = null;
    const after = await fetch(ready);
    expect(after.status).toBe(200);
    expect(await after.text()).toBe("ready\n");
  });

  it("refuses a port in use, naming host and port", async () => {
    const first = await serve(new Registry());
    const err = await startMetricsServer({ registry: new Registry(), port: first.port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsServerError);
    expect((err as Error).message).toBe(`cannot serve metrics on 127.0.0.1:${first.port}: the port is in use (another process listens there; pick another --metrics-port, or 0 for a free one)`);
  });

  it("stops listening on close, even with a keep-alive connection open", async () => {
    const s = await startMetricsServer({ registry: new Registry(), port: 0 });
    expect((await fetch(s.url)).status).toBe(200);
    await s.close();
    await expect(fetch(s.url)).rejects.toThrow();
  });

  it("answers 500 when a collect callback throws, and keeps serving", async () => {
    const registry = new Registry();
    let broken = true;
    syncedCounter({ registry, name: "gradswarm_test_flaky_total", help: "Flaky.", read: () => {
      if (broken) throw new Error("source gone");
      return [[{}, 1]];
    } });
    const s = await serve(registry);
    const bad = await fetch(s.url);
    expect(bad.status).toBe(500);
    expect(await bad.text()).toContain("source gone");
    broken = false;
    expect(sampleValue(parsePrometheusText(await (await fetch(s.url)).text()), "gradswarm_test_flaky_total")).toBe(1);
  });

  it("parses ports from 0 to 65535 only", () => {
    expect(parsePort("0")).toBe(0);
    expect(parsePort("9464")).toBe(9464);
    expect(parsePort("65535")).toBe(65535);
    for (const bad of ["", " ", "-1", "65536", "1.5", "http", "0x10"]) expect(parsePort(bad), bad).toBeNull();
  });
});

describe("synced counter", () => {
  it("follows a growing total per label set, shows a new label set at 0, and never goes back", async () => {
    const registry = new Registry();
    const totals = new Map<string, number>([["a", 0]]);
    syncedCounter({ registry, name: "gradswarm_test_bytes_total", help: "Bytes.", labelNames: ["kind"] as const, read: () => [...totals].map(([kind, v]) => [{ kind }, v]) });
    const read = async () => parsePrometheusText(await registry.metrics());
    expect(sampleValue(await read(), "gradswarm_test_bytes_total", { kind: "a" })).toBe(0);
    totals.set("a", 5).set("b", 2);
    let s = await read();
    expect([sampleValue(s, "gradswarm_test_bytes_total", { kind: "a" }), sampleValue(s, "gradswarm_test_bytes_total", { kind: "b" })]).toEqual([5, 2]);
    totals.set("a", 12);
    expect(sampleValue(await read(), "gradswarm_test_bytes_total", { kind: "a" })).toBe(12);
    // A total that shrinks (a source replaced) is not taken back; growth past the old top counts again.
    totals.set("a", 3);
    expect(sampleValue(await read(), "gradswarm_test_bytes_total", { kind: "a" })).toBe(12);
    totals.set("a", 14);
    s = await read();
    expect(sampleValue(s, "gradswarm_test_bytes_total", { kind: "a" })).toBe(14);
  });
});
