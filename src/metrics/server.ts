// The HTTP side of a process's Prometheus metrics: GET /metrics answers the registry's
// text exposition, GET /ready answers 200 once the process says it is ready and 503 (with
// the reason) before, anything else 404. One registry per process (never prom-client's
// global one), so that several in one process (tests) do not collide.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export const DEFAULT_METRICS_HOST = "127.0.0.1";

export class MetricsServerError extends Error {
  override name = "MetricsServerError";
}

export interface MetricsServerOptions {
  registry: Registry;
  /** 0: a free port, picked by the system. */
  port: number;
  host?: string;
  /** Null when ready, else why not (the body of /ready's 503). Without it, /ready is 404. */
  notReady?: () => string | null;
}

export interface MetricsServer {
  /** The host and port it listens on (the port picked when 0 was asked). */
  readonly host: string;
  readonly port: number;
  /** http://HOST:PORT/metrics */
  readonly url: string;
  close(): Promise<void>;
}

/** A TCP port for --metrics-port: a whole number from 0 (a free one) to 65535. */
export function parsePort(value: string): number | null {
  if (!/^\d{1,5}$/.test(value)) return null;
  const n = Number(value);
  return n <= 65535 ? n : null;
}

function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

async function answer(req: IncomingMessage, res: ServerResponse, o: MetricsServerOptions): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  const head = req.method === "HEAD";
  if (req.method !== "GET" && !head) {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("only GET and HEAD\n");
    return;
  }
  if (path === "/metrics") {
    const body = await o.registry.metrics();
    res.writeHead(200, { "content-type": o.registry.contentType }).end(head ? undefined : body);
    return;
  }
  if (path === "/ready" && o.notReady) {
    const why = o.notReady();
    res.writeHead(why === null ? 200 : 503, { "content-type": "text/plain; charset=utf-8" }).end(head ? undefined : `${why === null ? "ready" : `not ready: ${why}`}\n`);
    return;
  }
  res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end(head ? undefined : `not found: ${path}; metrics are at /metrics\n`);
}

/** Listens on host:port; rejects with a MetricsServerError naming them when it cannot (the port in use, a host not on this machine). */
export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const host = o.host ?? DEFAULT_METRICS_HOST;
  const server: Server = createServer((req, res) => {
    answer(req, res, o).catch((err: unknown) => {
      // A collect callback that threw: the scrape fails, the process goes on.
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end(`metrics failed: ${(err as Error).message}\n`);
    });
  });
  // A scraper's keep-alive connection must not hold close() up.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      const where = `${urlHost(host)}:${o.port}`;
      const why =
        err.code === "EADDRINUSE" ? "the port is in use (another process listens there; pick another --metrics-port, or 0 for a free one)"
        : err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND" ? `${host} is not an address of this machine`
        : err.code === "EACCES" ? "permission denied (ports below 1024 need privileges)"
        : err.message;
      reject(new MetricsServerError(`cannot serve metrics on ${where}: ${why}`, { cause: err }));
    });
    server.listen(o.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host,
    port,
    url: `http://${urlHost(host)}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
