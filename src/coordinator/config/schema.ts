// The config file's schema: what a user may write, with defaults. Unknown keys are
// errors (strict objects), so a typo never silently falls back to a default.

import { z } from "zod";
import { NPY_LAYOUTS } from "../../data/npy-dataset.js";
import { MLP_ACTIVATIONS, MLP_INITS } from "../../model/mlp.js";
import { BACKEND_CHOICES } from "../../worker/backend.js";

const positiveInt = z.int().min(1);
const seed = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
const path = z.string().min(1);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable's name (letters, digits, _)");

const mlpModel = z.strictObject({
  kind: z.literal("mlp"),
  layers: z.array(positiveInt.max(1_000_000)).min(2).max(64),
  activation: z.enum(MLP_ACTIVATIONS).default("relu"),
  seed: seed.default(0),
  init: z.enum(MLP_INITS).default("glorot_uniform"),
});

const cnnModel = z.strictObject({
  kind: z.literal("cnn"),
  /** [height, width, channels] of an example; the data's flat features are reshaped to it. */
  input_shape: z.tuple([positiveInt.max(4096), positiveInt.max(4096), positiveInt.max(4096)]).default([28, 28, 1]),
  /** Filters of each conv block (3×3 conv 'same' + 2×2 max pooling). */
  filters: z.array(positiveInt.max(4096)).min(1).max(8).default([32, 64]),
  kernel: positiveInt.max(15).default(3),
  classes: positiveInt.max(1_000_000),
  activation: z.enum(MLP_ACTIVATIONS).default("relu"),
  seed: seed.default(0),
  init: z.enum(MLP_INITS).default("glorot_uniform"),
});

const layersModel = z.strictObject({
  kind: z.literal("layers"),
  /** model.json of a TensorFlow.js layers model; weight files beside it. */
  path,
});

const onnxModel = z.strictObject({
  kind: z.literal("onnx"),
  /** An ONNX file as torch.onnx.export writes it (opset 13+), converted to a TF.js layers model. */
  path,
  /** A PyTorch state_dict saved with safetensors, loaded by name into the ONNX architecture. */
  weights: path.optional(),
});

const mnistData = z.strictObject({ kind: z.literal("mnist"), limit: positiveInt.optional() });
const idxData = z.strictObject({
  kind: z.literal("idx"),
  images: path,
  labels: path,
  limit: positiveInt.optional(),
  classes: positiveInt.max(1_000_000).optional(),
});
/**
 * A positive number, or a fraction written as a string ("1/255"; YAML has no fractions):
 * either way the number a / b in float64, so "1/255" and 0.00392156862745098 are the same.
 */
const scale = z.preprocess(
  (v) => {
    const m = typeof v === "string" ? /^\s*(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)\s*$/.exec(v) : null;
    return m ? Number(m[1]) / Number(m[2]) : v;
  },
  z.number({ error: 'must be a positive number or a fraction such as "1/255"' }).positive().max(1e30),
);
/** Arrays saved with np.save: inputs [N, ...], labels [N] of class indices. */
const npyData = z.strictObject({
  kind: z.literal("npy"),
  inputs: path,
  labels: path,
  /** Default: nchw for 4-D inputs, flat for 2-D; 3-D [N, H, W] is read as [H, W, 1]. */
  layout: z.enum(NPY_LAYOUTS).optional(),
  scale: scale.optional(),
  limit: positiveInt.optional(),
  classes: positiveInt.max(1_000_000).optional(),
});
const syntheticData = z.strictObject({
  kind: z.literal("synthetic"),
  n: positiveInt.max(10_000_000),
  features: positiveInt.max(1_000_000),
  classes: z.int().min(2).max(100_000),
  seed: seed.default(0),
  teacher_hidden: positiveInt.max(100_000).optional(),
  label_noise: z.number().min(0).max(1).optional(),
});

const dataSpec = z.discriminatedUnion("kind", [mnistData, idxData, npyData, syntheticData]);

/**
 * A held-out set, so that θ gets train and test loss and accuracy and the gap: a dataset
 * of its own (any data kind), or a seeded share of `data` (the pairs then come from the rest).
 */
const testSpec = z
  .strictObject({
    data: dataSpec.optional(),
    fraction: z.number().gt(0).lt(1).optional(),
    seed: seed.default(0),
    /** Examples per evaluation task (train and test losses are computed by the workers). */
    examples_per_task: positiveInt.max(1_000_000).default(2048),
  })
  .refine((t) => (t.data === undefined) !== (t.fraction === undefined), { message: "give either data (a dataset of its own) or fraction (a seeded share of data), not both and not neither" });

export const configSchema = z.strictObject({
  model: z.discriminatedUnion("kind", [mlpModel, cnnModel, layersModel, onnxModel]),
  data: dataSpec,
  test: testSpec.optional(),
  pairs: z.strictObject({
    count: positiveInt.max(100_000_000),
    batch_size: positiveInt.max(1_048_576),
    seed: seed.default(0),
    /** independent: the two minibatches of a pair are drawn independently (may overlap). */
    pairing: z.enum(["independent", "disjoint"]).default("independent"),
    /** Pairs per task: larger amortizes each task's round trips (bench/swarm.ts). */
    per_task: positiveInt.max(65_536).default(32),
  }),
  workers: z
    .strictObject({
      /**
       * Worker processes started by the embedded default (ignored with a NATS URL). 0 would
       * start a run that nobody computes: refused here, with its line, like any bad value.
       */
      local: z.int().min(1, "must be at least 1: the embedded default starts this many workers (with a NATS URL, nats.url or --nats, the field is ignored: leave it out)").max(256).default(2),
      backend: z.enum(BACKEND_CHOICES).default("auto"),
      lease_s: z.number().positive().max(86_400).default(60),
      max_attempts: positiveInt.max(1000).default(5),
      /** Bad results (malformed, non-finite, inconsistent) after which a worker gets no more work. */
      quarantine_after: positiveInt.max(1000).default(3),
      max_in_flight: positiveInt.max(100_000).default(256),
      /** How long to wait for a worker to appear (at the start, or after all have gone). */
      wait_s: z.number().positive().max(604_800).default(300),
    })
    .prefault({}),
  nats: z
    .strictObject({
      url: z.string().min(1).optional(),
      /** Copies of θ and the dataset in a JetStream cluster (3 survives the loss of a node). */
      replicas: z.int().min(1).max(5).default(1),
      prefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "dot-separated tokens of letters, digits, _ and -").max(128).default("gradswarm"),
      // The login (one way) and TLS for a server given by url or --nats (src/nats/auth.ts).
      // Secrets are named by file or environment variable, never written here.
      user: z.string().min(1).optional(),
      password: z.never({ error: "a password is not written in the config: give password_file (a file holding it) or password_env (the environment variable holding it)" }).optional(),
      password_file: path.optional(),
      password_env: envName.optional(),
      token: z.never({ error: "a token is not written in the config: give token_file or token_env" }).optional(),
      token_file: path.optional(),
      token_env: envName.optional(),
      nkey_seed_file: path.optional(),
      creds_file: path.optional(),
      tls: z
        .strictObject({
          /** CA certificate (PEM) that signed the server's certificate. */
          ca: path.optional(),
          /** Client certificate and its key (PEM), for a server that verifies clients. */
          cert: path.optional(),
          key: path.optional(),
        })
        .optional(),
    })
    .prefault({}),
  run: z
    .strictObject({
      /** A phase without progress (no task finished, no gradient chunk arrived) for this long ends the run with the stall report. */
      stall_timeout_s: z.number().positive().max(604_800).default(600),
    })
    .prefault({}),
  output: z.strictObject({ dir: path.optional() }).prefault({}),
  /** Prometheus metrics served during the run (README.md, "Metrics"); --metrics-port and --metrics-host win. */
  metrics: z
    .strictObject({
      /** 0: a free port, printed when the run starts. */
      port: z.int().min(0).max(65535),
      host: z.string().min(1).max(253).default("127.0.0.1"),
    })
    .optional(),
  /** stats: workers return per-pair statistics; vectors: also both gradients, chunked. */
  return: z.enum(["stats", "vectors"]).default("stats"),
  /** Per-parameter statistics of the gradients (GSNR, diversity); needs return: vectors. */
  vector_stats: z.boolean().default(false),
  /** The Fisher-metric regret: a first pass estimates diagonal Fishers at θ. */
  fisher: z
    .strictObject({
      pairs: positiveInt.max(10_000_000).default(256),
      batch_size: positiveInt.max(1_048_576).optional(),
      seed: seed.default(101),
      // YAML reads a bare `true` as a boolean: take it as the name of the true Fisher.
      kinds: z.array(z.preprocess((v) => (v === true ? "true" : v), z.enum(["empirical", "true"]))).min(1).max(2).default(["empirical", "true"]),
    })
    .optional(),
  /** Curvature contrast: dominant Hessian eigenvalues of minibatch losses vs the full loss. */
  curvature: z
    .strictObject({
      minibatches: positiveInt.max(100_000).default(16),
      batch_size: positiveInt.max(1_048_576).optional(),
      seed: seed.default(202),
      /** Examples of the "full" loss (its first `full_examples` of a seeded shuffle); default all. */
      full_examples: positiveInt.optional(),
      iterations: positiveInt.max(10_000).default(30),
      tolerance: z.number().positive().max(1).default(1e-3),
      /** Hutchinson probes of the Hessian trace: 0 for none, else at least 2 (for a standard error). */
      probes: z.int().min(0).max(100_000).refine((n) => n !== 1, "must be 0 or at least 2 (one probe has no standard error)").default(8),
      /** Finite-difference step; 0: the worker's default for θ. */
      step: z.number().min(0).default(0),
    })
    .optional(),
  /** Loss landscapes (Li et al. 2018) along seeded random directions. */
  landscape: z
    .strictObject({
      dims: z.union([z.literal(1), z.literal(2)]).default(1),
      from: z.number().default(-1),
      to: z.number().default(1),
      points: z.int().min(2).max(1001).default(21),
      examples: positiveInt.default(1000),
      seed: seed.default(303),
      normalizations: z.array(z.enum(["filter", "none"])).min(1).max(2).default(["filter", "none"]),
      per_task: positiveInt.max(10_000).default(4),
    })
    .optional(),
  /** Dinh et al.'s function-preserving twins of θ, measured alongside it. */
  invariance: z
    .strictObject({
      /** The Dense layer (0-based) whose weights and bias × α; the next layer's weights × 1/α. */
      layer: z.int().min(0).default(0),
      alphas: z.array(z.number().positive().max(1e6)).min(1).max(16).default([0.5, 2, 10]),
      /** Relative change above which a measure "moved". */
      tolerance: z.number().positive().max(1).default(1e-3),
    })
    .optional(),
});

export type RawConfig = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
