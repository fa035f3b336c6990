// The hot spots of a V8 CPU profile (`node --cpu-prof`, as bench/coordinator-scale.ts
// --cpu-prof writes them): self time by function and by file or package, largest first.
// With --dispatch, only the samples between the first and the last one taken inside the
// Dispatcher's result handler: the run's dispatch, without its preparation and report.
// Under CPU contention the profiler samples wall time: a descheduled process is charged
// to where it stood, so the shares, not the milliseconds, are what to read.
// Run: npx tsx bench/scale/profile-summary.ts PROFILE.cpuprofile [--top 25] [--dispatch]

import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The first and last sample index whose stack holds the function `name` of a file ending in `file`. */
function windowOf(profile: Profile, byId: Map<number, ProfileNode>, name: string, file: string): [number, number] {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inside = new Map<number, boolean>();
  const within = (id: number | undefined): boolean => {
    if (id === undefined) return false;
    const known = inside.get(id);
    if (known !== undefined) return known;
    const f = byId.get(id)!.callFrame;
    const yes = (f.functionName === name && f.url.endsWith(file)) || within(parent.get(id));
    inside.set(id, yes);
    return yes;
  };
  let first = -1;
  let last = -1;
  profile.samples.forEach((id, i) => {
    if (!within(id)) return;
    if (first < 0) first = i;
    last = i;
  });
  if (first < 0) throw new Error(`no sample inside ${name} of ${file}: not a coordinator's profile?`);
  return [first, last];
}

const file = process.argv[2];
if (!file) throw new Error("usage: profile-summary.ts PROFILE.cpuprofile [--top N]");
const topIndex = process.argv.indexOf("--top");
const top = topIndex > 0 ? Number(process.argv[topIndex + 1]) : 25;
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const [from, to] = process.argv.includes("--dispatch") ? windowOf(profile, byId, "result", "coordinator/dispatcher.js") : [0, profile.samples.length - 1];
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => {
  // timeDeltas[i] is the time before sample i, charged to it as V8's own tools do.
  if (i >= from && i <= to) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

/** Where a frame's code lives: a package of node_modules, a file of the project, or node's own. */
function place(url: string): string {
  if (!url) return "(native / V8)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/(dist|src)\/(.*)$/.exec(url);
  if (own) return own[2]!;
  return url.startsWith("node:") ? url : url.replace(/^.*\//, "");
}

const functions = new Map<string, number>();
const places = new Map<string, number>();
let total = 0;
let idle = 0;
for (const [id, us] of selfUs) {
  const f = byId.get(id)!.callFrame;
  total += us;
  if (f.functionName === "(idle)") {
    idle += us;
    continue;
  }
  const name = `${f.functionName || "(anonymous)"} ${place(f.url)}:${f.lineNumber + 1}`;
  functions.set(name, (functions.get(name) ?? 0) + us);
  places.set(place(f.url), (places.get(place(f.url)) ?? 0) + us);
}
const busy = total - idle;
const show = (title: string, m: Map<string, number>) => {
  process.stdout.write(`${title}\n`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / busy).toFixed(1).padStart(5)} %  ${k}\n`);
  }
};
process.stdout.write(`${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s not idle (percentages are of that)\n`);
show("self time by function:", functions);
show("self time by file or package:", places);
