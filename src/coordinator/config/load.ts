// Config file → validated, compiled options. Three stages as in Temporal's SDK: the raw
// YAML, the schema-checked object with defaults, and the compiled options the run uses
// (absolute paths, camelCase). Every error names the field and, where the YAML has one,
// the line.

import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { isCollection, isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { z } from "zod";
import type { DataSpec } from "../../data/load.js";
import type { CnnSpec } from "../../model/cnn.js";
import type { MlpSpec } from "../../model/mlp.js";
import type { NatsAuthSources } from "../../nats/auth.js";
import type { BackendChoice } from "../../worker/backend.js";
import type { Pairing } from "../sampler.js";
import { configSchema, type ParsedConfig } from "./schema.js";

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid config:\n  ${problems.join("\n  ")}`);
  }
}

export type ModelSource = ({ kind: "mlp" } & MlpSpec) | ({ kind: "cnn" } & CnnSpec) | { kind: "layers"; path: string } | { kind: "onnx"; path: string; weights: string | null };

export interface RunConfig {
  file: string;
  /** The parsed config with defaults, as recorded in results.json. */
  parsed: ParsedConfig;
  model: ModelSource;
  data: DataSpec;
  pairs: { count: number; batchSize: number; seed: number; pairing: Pairing; perTask: number };
  workers: { local: number; backend: BackendChoice; leaseMs: number; maxAttempts: number; quarantineAfter: number; maxInFlight: number; waitMs: number };
  /** A phase without progress for this long ends the run (run.stall_timeout_s). */
  stallTimeoutMs: number;
  returns: "stats" | "vectors";
  vectorStats: boolean;
  fisher: { pairs: number; batchSize: number; seed: number; kinds: ("empirical" | "true")[] } | null;
  curvature: { minibatches: number; batchSize: number; seed: number; fullExamples: number | null; iterations: number; tolerance: number; probes: number; step: number } | null;
  landscape: { dims: 1 | 2; from: number; to: number; points: number; examples: number; seed: number; normalizations: ("filter" | "none")[]; perTask: number } | null;
  /** A held-out set: a dataset of its own, or a seeded share `fraction` of `data`; null: none. */
  test: { data: DataSpec | null; fraction: number | null; seed: number; perTask: number } | null;
  invariance: { layer: number; alphas: number[]; tolerance: number } | null;
  /** `auth`: where the login and TLS files are (read at connect time, src/nats/auth.ts), paths absolute. */
  nats: { url: string | undefined; prefix: string; replicas: number; auth: NatsAuthSources };
  outDir: string | undefined;
  /** Where to serve Prometheus metrics during the run; null: not served (unless --metrics-port). */
  metrics: { port: number; host: string } | null;
}

/** A data section with its paths made absolute; a missing file is a problem named by `at`. */
function compileData(d: ParsedConfig["data"], base: string, at: (...keys: (string | number)[]) => string, problems: string[]): DataSpec {
  if (d.kind === "idx") {
    const data = { kind: "idx" as const, images: resolve(base, d.images), labels: resolve(base, d.labels), limit: d.limit, classes: d.classes };
    requireFile(problems, at("images"), data.images);
    requireFile(problems, at("labels"), data.labels);
    return data;
  }
  if (d.kind === "npy") {
    const data = { kind: "npy" as const, inputs: resolve(base, d.inputs), labels: resolve(base, d.labels), layout: d.layout, scale: d.scale, limit: d.limit, classes: d.classes };
    requireFile(problems, at("inputs"), data.inputs);
    requireFile(problems, at("labels"), data.labels);
    return data;
  }
  if (d.kind === "synthetic") return { kind: "synthetic", n: d.n, features: d.features, classes: d.classes, seed: d.seed, teacherHidden: d.teacher_hidden, labelNoise: d.label_noise };
  return { kind: "mnist", limit: d.limit };
}

/** Largest config file read; a config is a few hundred bytes. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function lineOf(doc: Document, counter: LineCounter, path: readonly PropertyKey[], key?: string): string {
  const keyPath = path.map((p) => (typeof p === "number" ? p : String(p)));
  let node: unknown = doc.getIn(keyPath, true);
  if (key !== undefined && isMap(node)) {
    node = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === key)?.key;
  }
  const range = (node as Node | undefined)?.range;
  if (!range) return "";
  const { line, col } = counter.linePos(range[0]);
  return ` (line ${line}, column ${col})`;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.length === 0 ? "(top level)" : path.map((p) => (typeof p === "number" ? `[${p}]` : String(p))).join(".").replace(/\.\[/g, "[");
}

function describe(issue: z.core.$ZodIssue, doc: Document, counter: LineCounter): string[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `${fieldName([...issue.path, k])}${lineOf(doc, counter, issue.path, k)}: unknown key`);
  }
  return [`${fieldName(issue.path)}${lineOf(doc, counter, issue.path)}: ${issue.message}`];
}

/** The first line of a YAML error, with the offending source text (e.g. the duplicated key). */
function yamlProblem(e: { message: string; pos: [number, number] }, text: string): string {
  const first = e.message.split("\n")[0]!.replace(/:$/, "");
  // The error's range may cover one character: take the token up to the key's colon.
  const source = (/^[^:\n]{0,60}/.exec(text.slice(e.pos[0]))?.[0] ?? "").trim();
  return source ? `${first} (at "${source}")` : first;
}

/** " (line L, column C)" of the value at `path` in the config's YAML; "" where it has none. */
export type FieldLocator = (path: readonly PropertyKey[]) => string;

const NO_LINES: FieldLocator = () => "";

/** The schema-checked config and where its fields are in the text, for compileConfig's messages. */
export function parseConfig(text: string, file: string): { parsed: ParsedConfig; locate: FieldLocator } {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: true, prettyErrors: true, merge: false });
  if (doc.errors.length > 0) throw new ConfigError(file, doc.errors.map((e) => `YAML: ${yamlProblem(e, text)}`));
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(file, [`YAML: ${(err as Error).message}`]);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ConfigError(file, ["the config must be a YAML mapping (model:, data:, pairs:, ...)"]);
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(file, result.error.issues.flatMap((i) => describe(i, doc, counter)));
  // A section (invariance:, model.layers:) is named where its key is: a block map's own
  // range starts a line below, at its first entry.
  const locate: FieldLocator = (path) => {
    const last = path.at(-1);
    return isCollection(doc.getIn(path as unknown[], true)) && typeof last === "string" ? lineOf(doc, counter, path.slice(0, -1), last) : lineOf(doc, counter, path);
  };
  return { parsed: result.data, locate };
}

export function parseConfigText(text: string, file: string): ParsedConfig {
  return parseConfig(text, file).parsed;
}

function requireFile(problems: string[], field: string, path: string): void {
  if (!existsSync(path)) problems.push(`${field}: file not found: ${path}`);
  else if (!statSync(path).isFile()) problems.push(`${field}: not a file: ${path}`);
}

/**
 * nats: user, password_file | password_env, token_file | token_env, nkey_seed_file,
 * creds_file, tls as login sources, paths against the config's folder, each named by its
 * field (with its line) for the errors of reading it. The files are not checked here: they
 * are read when the run connects (a results.json's config is compiled again elsewhere).
 */
function natsAuthSources(n: ParsedConfig["nats"], base: string, at: (...path: string[]) => string, problems: string[]): NatsAuthSources {
  const file = (p: string | undefined, ...field: string[]) => (p === undefined ? undefined : { file: resolve(base, p), field: at("nats", ...field) });
  const either = (f: string | undefined, e: string | undefined, name: string) => {
    if (f !== undefined && e !== undefined) problems.push(`${at("nats", `${name}_file`)}: nats.${name}_file and nats.${name}_env both give the ${name}: keep one`);
    return file(f, `${name}_file`) ?? (e === undefined ? undefined : { env: e, field: at("nats", `${name}_env`) });
  };
  const out: NatsAuthSources = {};
  if (n.user !== undefined) out.user = { value: n.user, field: at("nats", "user") };
  const password = either(n.password_file, n.password_env, "password");
  if (password) out.password = password;
  const token = either(n.token_file, n.token_env, "token");
  if (token) out.token = token;
  if (n.nkey_seed_file !== undefined) out.nkeySeed = file(n.nkey_seed_file, "nkey_seed_file");
  if (n.creds_file !== undefined) out.creds = file(n.creds_file, "creds_file");
  if (n.tls) out.tls = { ca: file(n.tls.ca, "tls", "ca"), cert: file(n.tls.cert, "tls", "cert"), key: file(n.tls.key, "tls", "key") };
  return out;
}

/**
 * Resolves paths against the config's folder and checks that named files exist. `locate`
 * (from parseConfig) puts the YAML's lines into the messages; a config read back from
 * results.json has none.
 */
export function compileConfig(parsed: ParsedConfig, file: string, locate: FieldLocator = NO_LINES): RunConfig {
  const base = dirname(resolve(file));
  const problems: string[] = [];
  /** "data.images (line 6, column 11)": the field as every other config error names it. */
  const at = (...path: (string | number)[]): string => `${fieldName(path)}${locate(path)}`;
  let model: ModelSource;
  if (parsed.model.kind === "mlp") {
    model = { kind: "mlp", layers: parsed.model.layers, activation: parsed.model.activation, seed: parsed.model.seed, init: parsed.model.init };
  } else if (parsed.model.kind === "cnn") {
    const m = parsed.model;
    model = { kind: "cnn", inputShape: m.input_shape, filters: m.filters, kernel: m.kernel, classes: m.classes, activation: m.activation, seed: m.seed, init: m.init };
  } else if (parsed.model.kind === "onnx") {
    model = { kind: "onnx", path: resolve(base, parsed.model.path), weights: parsed.model.weights === undefined ? null : resolve(base, parsed.model.weights) };
    requireFile(problems, at("model", "path"), model.path);
    if (model.weights !== null) requireFile(problems, at("model", "weights"), model.weights);
  } else {
    model = { kind: "layers", path: resolve(base, parsed.model.path) };
    requireFile(problems, at("model", "path"), model.path);
  }
  const d = parsed.data;
  const data = compileData(d, base, (...keys) => at("data", ...keys), problems);
  const test = parsed.test
    ? {
        data: parsed.test.data ? compileData(parsed.test.data, base, (...keys) => at("test", "data", ...keys), problems) : null,
        fraction: parsed.test.fraction ?? null,
        seed: parsed.test.seed,
        perTask: parsed.test.examples_per_task,
      }
    : null;
  if (d.kind === "synthetic") {
    const needed = parsed.pairs.pairing === "disjoint" ? 2 * parsed.pairs.batch_size : parsed.pairs.batch_size;
    if (needed > d.n) problems.push(`${at("pairs", "batch_size")}: ${parsed.pairs.batch_size} is too large for a dataset of ${d.n} examples (data.n)${parsed.pairs.pairing === "disjoint" ? " with disjoint pairs" : ""}`);
  }
  if (model.kind === "mlp" && d.kind === "synthetic") {
    if (model.layers[0] !== d.features) problems.push(`${at("model", "layers", 0)}: the input size ${model.layers[0]} differs from data.features ${d.features}`);
    if (model.layers.at(-1) !== d.classes) problems.push(`${at("model", "layers")}: the output size ${model.layers.at(-1)} differs from data.classes ${d.classes}`);
  }
  if (parsed.vector_stats && parsed.return !== "vectors") problems.push(`${at("vector_stats")}: needs return: vectors (the statistics are computed from the gradient vectors)`);
  if (parsed.landscape && !(parsed.landscape.from < parsed.landscape.to)) problems.push(`${at("landscape", "from")}: must be below landscape.to`);
  if (parsed.invariance && model.kind === "cnn") problems.push(`${at("invariance")}: the twins are built for MLPs (Dense layers); a cnn model has none to rescale before its output`);
  if (parsed.invariance && model.kind === "mlp" && parsed.invariance.layer >= model.layers.length - 2) {
    problems.push(`${at("invariance", "layer")}: ${parsed.invariance.layer} has no next layer to take 1/α (the MLP has ${model.layers.length - 1} Dense layers, numbered from 0)`);
  }
  if (parsed.invariance && model.kind === "mlp" && !["relu", "linear"].includes(model.activation)) {
    problems.push(`${at("invariance")}: the twins preserve the function only through relu or linear activations, not ${model.activation}`);
  }
  const natsAuth = natsAuthSources(parsed.nats, base, at, problems);
  if (problems.length > 0) throw new ConfigError(file, problems);
  const w = parsed.workers;
  return {
    file: resolve(file),
    parsed,
    model,
    data,
    test,
    pairs: { count: parsed.pairs.count, batchSize: parsed.pairs.batch_size, seed: parsed.pairs.seed, pairing: parsed.pairs.pairing, perTask: parsed.pairs.per_task },
    workers: { local: w.local, backend: w.backend, leaseMs: w.lease_s * 1000, maxAttempts: w.max_attempts, quarantineAfter: w.quarantine_after, maxInFlight: w.max_in_flight, waitMs: w.wait_s * 1000 },
    stallTimeoutMs: parsed.run.stall_timeout_s * 1000,
    returns: parsed.return,
    vectorStats: parsed.vector_stats,
    fisher: parsed.fisher ? { pairs: parsed.fisher.pairs, batchSize: parsed.fisher.batch_size ?? parsed.pairs.batch_size, seed: parsed.fisher.seed, kinds: [...new Set(parsed.fisher.kinds)] } : null,
    curvature: parsed.curvature
      ? {
          minibatches: parsed.curvature.minibatches,
          batchSize: parsed.curvature.batch_size ?? parsed.pairs.batch_size,
          seed: parsed.curvature.seed,
          fullExamples: parsed.curvature.full_examples ?? null,
          iterations: parsed.curvature.iterations,
          tolerance: parsed.curvature.tolerance,
          probes: parsed.curvature.probes,
          step: parsed.curvature.step,
        }
      : null,
    landscape: parsed.landscape
      ? {
          dims: parsed.landscape.dims,
          from: parsed.landscape.from,
          to: parsed.landscape.to,
          points: parsed.landscape.points,
          examples: parsed.landscape.examples,
          seed: parsed.landscape.seed,
          normalizations: [...new Set(parsed.landscape.normalizations)],
          perTask: parsed.landscape.per_task,
        }
      : null,
    invariance: parsed.invariance ? { layer: parsed.invariance.layer, alphas: parsed.invariance.alphas, tolerance: parsed.invariance.tolerance } : null,
    nats: { url: parsed.nats.url, prefix: parsed.nats.prefix, replicas: parsed.nats.replicas, auth: natsAuth },
    outDir: parsed.output.dir === undefined ? undefined : resolve(base, parsed.output.dir),
    metrics: parsed.metrics ? { port: parsed.metrics.port, host: parsed.metrics.host } : null,
  };
}

/** Reads at most MAX_CONFIG_BYTES + 1 bytes: a device or FIFO has no size to check first. */
function readBounded(path: string, file: string): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new ConfigError(file, [`cannot open: ${(err as Error).message}`]);
  }
  try {
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
      if (total > MAX_CONFIG_BYTES) throw new ConfigError(file, [`the file is over ${MAX_CONFIG_BYTES} bytes; a config is a few hundred`]);
    }
    return buf.subarray(0, total).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

export function loadConfig(file: string): RunConfig {
  const path = resolve(file);
  if (!existsSync(path)) throw new ConfigError(file, ["file not found"]);
  const stat = statSync(path);
  // A folder, a FIFO or a device is no config (and /dev/zero would never end).
  if (!stat.isFile()) throw new ConfigError(file, ["not a regular file (a folder, a device or a pipe)"]);
  if (stat.size > MAX_CONFIG_BYTES) throw new ConfigError(file, [`the file is ${stat.size} bytes; a config is at most ${MAX_CONFIG_BYTES}`]);
  const { parsed, locate } = parseConfig(readBounded(path, file), file);
  return compileConfig(parsed, file, locate);
}
