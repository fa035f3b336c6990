// A training run's state, complete enough to continue it bit for bit: every model weight,
// the optimizer's per-parameter slots, the step count and the data position, plus the
// settings that must not change across a resume. As bytes it is one safetensors file
// (src/model/safetensors.ts): tensors "weight/NAME" and "optimizer/SLOT/NAME" (float32),
// and a small JSON header in the file's __metadata__ under "gradswarm.train".

import { decodeSafetensors, encodeSafetensors, SafetensorsError, tensorAsFloat32 } from "../model/safetensors.js";
import type { DataOrderConfig, DataPosition } from "./data-order.js";
import type { OptimizerConfig } from "./optimizers.js";
import type { ScheduleConfig } from "./schedules.js";

export const TRAIN_STATE_FORMAT = "gradswarm.train-state";
export const TRAIN_STATE_VERSION = 1;
const HEADER_KEY = "gradswarm.train";

/** What a resumed run must share with the run that wrote the state. */
export interface TrainSettings {
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  data: DataOrderConfig;
}

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface TrainState {
  /** Optimizer steps taken. */
  step: number;
  /** The next minibatch to train on. */
  position: DataPosition;
  settings: TrainSettings;
  /** Every model weight (trainable or not), in the snapshot's order. */
  weights: NamedArray[];
  /** slots[slot] = the slot of each trainable weight, named by the weight. */
  slots: Record<string, NamedArray[]>;
}

export class TrainStateError extends Error {
  override name = "TrainStateError";
}

interface Header {
  format: string;
  version: number;
  step: number;
  position: DataPosition;
  settings: TrainSettings;
  /** Weight names in the model's order (safetensors orders tensors by name). */
  weights: string[];
  slots: Record<string, string[]>;
}

export function encodeTrainState(s: TrainState): Uint8Array {
  const header: Header = {
    format: TRAIN_STATE_FORMAT,
    version: TRAIN_STATE_VERSION,
    step: s.step,
    position: s.position,
    settings: s.settings,
    weights: s.weights.map((w) => w.name),
    slots: Object.fromEntries(Object.entries(s.slots).map(([k, v]) => [k, v.map((w) => w.name)])),
  };
  const tensors = [
    ...s.weights.map((w) => ({ name: `weight/${w.name}`, shape: w.shape, data: w.data })),
    ...Object.entries(s.slots).flatMap(([slot, arrays]) => arrays.map((w) => ({ name: `optimizer/${slot}/${w.name}`, shape: w.shape, data: w.data }))),
  ];
  return encodeSafetensors(tensors, { [HEADER_KEY]: JSON.stringify(header) });
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Decodes what encodeTrainState wrote; `where` (a file, a blob key) names it in errors. */
export function decodeTrainState(bytes: Uint8Array, where: string): TrainState {
  let file;
  try {
    file = decodeSafetensors(bytes, where);
  } catch (err) {
    if (err instanceof SafetensorsError) throw new TrainStateError(err.message, { cause: err });
    throw err;
  }
  const text = file.metadata[HEADER_KEY];
  if (text === undefined) throw new TrainStateError(`${where}: no "${HEADER_KEY}" header in the safetensors metadata: not a training state`);
  let h: Header;
  try {
    h = JSON.parse(text) as Header;
  } catch (err) {
    throw new TrainStateError(`${where}: the "${HEADER_KEY}" header is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (h.format !== TRAIN_STATE_FORMAT) throw new TrainStateError(`${where}: format ${JSON.stringify(h.format)}, expected "${TRAIN_STATE_FORMAT}"`);
  if (h.version !== TRAIN_STATE_VERSION) throw new TrainStateError(`${where}: version ${JSON.stringify(h.version)}, this build reads version ${TRAIN_STATE_VERSION}`);
  if (!isInt(h.step) || !isInt(h.position?.epoch) || !isInt(h.position?.batch)) {
    throw new TrainStateError(`${where}: step and position {epoch, batch} must be non-negative integers, got ${JSON.stringify({ step: h.step, position: h.position })}`);
  }
  if (typeof h.settings !== "object" || h.settings === null || !Array.isArray(h.weights) || typeof h.slots !== "object" || h.slots === null) {
    throw new TrainStateError(`${where}: the header needs settings, weights and slots`);
  }
  const used = new Set<string>();
  const take = (key: string): NamedArray => {
    const t = file.tensors.get(key);
    if (!t) throw new TrainStateError(`${where}: the header names tensor ${JSON.stringify(key)}, which the file does not hold`);
    if (t.dtype !== "F32") throw new TrainStateError(`${where}: tensor ${JSON.stringify(key)} is ${t.dtype}, a training state holds F32 only`);
    used.add(key);
    return { name: key, shape: t.shape, data: tensorAsFloat32(t, `${where}: ${key}`) };
  };
  const weights = h.weights.map((n) => ({ ...take(`weight/${n}`), name: n }));
  const slots: Record<string, NamedArray[]> = {};
  for (const [slot, names] of Object.entries(h.slots)) {
    if (!Array.isArray(names)) throw new TrainStateError(`${where}: slots.${slot} must list weight names`);
    slots[slot] = names.map((n: string) => ({ ...take(`optimizer/${slot}/${n}`), name: n }));
  }
  for (const key of file.tensors.keys()) {
    if (!used.has(key)) throw new TrainStateError(`${where}: tensor ${JSON.stringify(key)} is not named by the header`);
  }
  return { step: h.step, position: h.position, settings: h.settings, weights, slots };
}
