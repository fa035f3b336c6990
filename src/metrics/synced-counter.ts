// A Prometheus counter that follows a running total kept elsewhere (the dispatcher's
// `counts`, a worker's totals): at each scrape it adds what the total grew by since the
// last one. The totals only grow, so the counter is exact at every scrape, and nothing in
// the code that keeps them needs to know about metrics.

import { Counter, type Registry } from "prom-client";

export interface SyncedCounterOptions<L extends string> {
  registry: Registry;
  name: string;
  help: string;
  labelNames?: readonly L[];
  /** The totals now, one per label set (none while there is no source yet). */
  read: () => Iterable<[Partial<Record<L, string>>, number]>;
}

export function syncedCounter<L extends string>(o: SyncedCounterOptions<L>): Counter<L> {
  const last = new Map<string, number>();
  return new Counter<L>({
    name: o.name,
    help: o.help,
    labelNames: o.labelNames ?? [],
    registers: [o.registry],
    collect() {
      for (const [labels, total] of o.read()) {
        const key = JSON.stringify(labels);
        const grown = total - (last.get(key) ?? 0);
        // Adding 0 makes a label set seen for the first time show, at 0.
        if (grown >= 0) this.inc(labels, grown);
        last.set(key, Math.max(total, last.get(key) ?? 0));
      }
    },
  });
}

/** The entries of a map of totals as [labels, total], under one label name. */
export function byLabel<L extends string>(label: L, totals: ReadonlyMap<string, number> | undefined): [Partial<Record<L, string>>, number][] {
  return [...(totals ?? new Map<string, number>())].map(([k, v]) => [{ [label]: k } as Partial<Record<L, string>>, v]);
}
