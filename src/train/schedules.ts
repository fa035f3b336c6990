// Learning-rate schedules as pure functions of the step (0-based: the rate the t-th
// optimizer step uses), so that a resumed run needs nothing but its step count. Each one
// equals a torch.optim.lr_scheduler composition stepped once after every optimizer step
// (docs/design.md, "Training"; checked in test/unit/train-torch.test.ts):
//
//   constant  no scheduler
//   warmup    LinearLR(start_factor=s, end_factor=1, total_iters=W): then constant
//   cosine    SequentialLR([LinearLR(s, 1, W), CosineAnnealingLR(T_max=T−W, eta_min)],
//             milestones=[W]); CosineAnnealingLR alone when W = 0. Past T the rate stays
//             at eta_min (torch's cosine would climb back up: a run that goes on past its
//             schedule's length is not meant to restart it).

export type ScheduleConfig =
  | { kind: "constant" }
  | { kind: "warmup"; warmupSteps: number; startFactor: number }
  | { kind: "cosine"; warmupSteps: number; startFactor: number; totalSteps: number; minLr: number };

export class ScheduleError extends Error {
  override name = "ScheduleError";
}

/** Refuses a schedule that cannot be evaluated; `where` names it in errors. */
export function checkSchedule(s: ScheduleConfig, where = "schedule"): void {
  if (s.kind === "constant") return;
  if (s.kind !== "warmup" && s.kind !== "cosine") throw new ScheduleError(`${where}.kind must be constant, warmup or cosine, got ${JSON.stringify((s as { kind: unknown }).kind)}`);
  if (!Number.isSafeInteger(s.warmupSteps) || s.warmupSteps < 0) throw new ScheduleError(`${where}.warmupSteps must be a non-negative integer, got ${s.warmupSteps}`);
  if (s.kind === "warmup" && s.warmupSteps === 0) throw new ScheduleError(`${where}.warmupSteps must be at least 1 for a warmup schedule (use constant)`);
  if (!(s.startFactor > 0 && s.startFactor <= 1)) throw new ScheduleError(`${where}.startFactor must be in (0, 1], got ${s.startFactor}`);
  if (s.kind === "cosine") {
    if (!Number.isSafeInteger(s.totalSteps) || s.totalSteps <= s.warmupSteps) {
      throw new ScheduleError(`${where}.totalSteps must be an integer above warmupSteps (${s.warmupSteps}), got ${s.totalSteps}`);
    }
    if (!(Number.isFinite(s.minLr) && s.minLr >= 0)) throw new ScheduleError(`${where}.minLr must be a finite number ≥ 0, got ${s.minLr}`);
  }
}

/** The learning rate of step `step` (0-based) for base rate `lr`. */
export function learningRate(s: ScheduleConfig, lr: number, step: number): number {
  if (!Number.isSafeInteger(step) || step < 0) throw new ScheduleError(`step must be a non-negative integer, got ${step}`);
  if (s.kind === "constant") return lr;
  const w = s.warmupSteps;
  if (step < w || (s.kind === "warmup" && step === w)) return lr * (s.startFactor + ((1 - s.startFactor) * Math.min(step, w)) / w);
  if (s.kind === "warmup") return lr;
  const t = Math.min(step - w, s.totalSteps - w);
  return s.minLr + ((lr - s.minLr) * (1 + Math.cos((Math.PI * t) / (s.totalSteps - w)))) / 2;
}
