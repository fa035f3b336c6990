// Which BLAS the PyTorch peer (bench/torch-peer.py) computes with, and whether it is a peer
// at all. Debian's python3-torch links libblas.so.3, which the alternatives system points at
// whichever BLAS is installed; `apt-get install python3-torch` alone pulls the reference
// BLAS (libblas3, unoptimized Fortran), and against it our CPU worker came out at 4.4×
// PyTorch, with the library's file name as the only hint. A user runs PyTorch on OpenBLAS
// or MKL, so ratios against the reference BLAS are refused (bench/README.md).
//
// The evidence, from the peer's own process (`torch-peer.py --probe`): the shared objects it
// has mapped (/proc/self/maps, symlinks resolved: Debian's reference BLAS is
// .../blas/libblas.so.3.11.0, OpenBLAS's libblas.so.3 lives in .../openblas-pthread/), and
// torch.__config__.show(), whose BLAS_INFO says what a wheel linked statically (MKL in
// PyPI's x86 wheels, where nothing BLAS-like is mapped). The mapped files win: BLAS_INFO
// is what the build saw, not what the alternatives system gives at run time.

import { spawnSync } from "node:child_process";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export type BlasKind = "openblas" | "mkl" | "blis" | "atlas" | "accelerate" | "reference" | "unknown";

export interface BlasFinding {
  kind: BlasKind;
  /** What told us: the library's path, or "BLAS_INFO=mkl in torch.__config__.show()". */
  evidence: string;
}

/** What to install on Debian for an optimized BLAS that python3-torch picks up at once. */
export const OPENBLAS_FIX = "install OpenBLAS (Debian: apt-get install libopenblas0-pthread, or scripts/bench-setup.sh)";

const OPTIMIZED: [BlasKind, RegExp][] = [
  ["openblas", /openblas/i],
  ["mkl", /(^|\/)libmkl_|\/mkl\//i],
  ["blis", /blis/i],
  ["atlas", /atlas/i],
];

/** A BLAS-providing library: libblas.so*, libcblas.so*, FlexiBLAS's netlib backend. */
const BLAS_FILE = /^lib(c?blas|flexiblas_netlib)\b.*\.so/i;

/**
 * numpy's and scipy's PyPI wheels bundle an OpenBLAS of their own (numpy.libs/libopenblas64_p…)
 * that only they call: it says nothing about torch's, and beside a Debian torch on the
 * reference BLAS it would hide that.
 */
const WHEEL_BUNDLED = /\/(numpy|scipy)(\.libs|\/\.libs)\//;

/** Which BLAS a torch process uses, from the files it has mapped and its build config. */
export function torchBlas(mapped: readonly string[], config: string): BlasFinding {
  const libraries = mapped.filter((l) => !WHEEL_BUNDLED.test(l));
  for (const [kind, pattern] of OPTIMIZED) {
    // The library named after it first (libopenblasp-r0.3.21.so, not the libblas.so.3 beside it).
    const lib = libraries.find((l) => pattern.test(basename(l))) ?? libraries.find((l) => pattern.test(l));
    if (lib) return { kind, evidence: lib };
  }
  const reference = libraries.find((l) => BLAS_FILE.test(basename(l)));
  if (reference) return { kind: "reference", evidence: reference };
  // Nothing BLAS-like mapped: statically linked into libtorch, as the build says.
  const info = /BLAS_INFO=([\w-]+)/.exec(config)?.[1]?.toLowerCase();
  const byInfo: Record<string, BlasKind> = { mkl: "mkl", open: "openblas", openblas: "openblas", blis: "blis", flame: "blis", atlas: "atlas", accelerate: "accelerate", veclib: "accelerate" };
  if (info && byInfo[info]) return { kind: byInfo[info]!, evidence: `BLAS_INFO=${info} in torch.__config__.show(), no BLAS library mapped` };
  return { kind: "unknown", evidence: mapped.length === 0 ? "no shared objects listed (no /proc/self/maps?)" : `no BLAS library among ${libraries.length} mapped, BLAS_INFO=${info ?? "absent"}` };
}

/**
 * Why this PyTorch is no peer for ratios, or null when it is one. On CUDA the matmuls are
 * cuBLAS's and the CPU BLAS does not matter.
 */
export function peerRefusal(blas: BlasFinding, device: "cpu" | "cuda"): string | null {
  if (device === "cuda" || blas.kind !== "reference") return null;
  return `PyTorch computes with the reference BLAS (${blas.evidence}), not what a user runs: ratios against it would flatter us several times over, so none are printed; ${OPENBLAS_FIX}`;
}

export interface TorchProbe {
  torch: string;
  device: "cpu" | "cuda";
  blas: BlasFinding;
}

const PEER = join(dirname(fileURLToPath(import.meta.url)), "torch-peer.py");

/** Asks `python torch-peer.py --probe` what its torch loaded; a string says why it could not. */
export function probeTorch(python: string, args: readonly string[] = []): TorchProbe | string {
  const r = spawnSync(python, [PEER, "--probe", ...args], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) return `torch-peer.py --probe exited with ${r.status ?? r.signal}: ${(r.stderr ?? "").trim().split("\n").at(-1)}`;
  try {
    const p = JSON.parse(r.stdout) as { torch: string; device: "cpu" | "cuda"; libraries: string[]; config: string };
    return { torch: p.torch, device: p.device, blas: torchBlas(p.libraries, p.config) };
  } catch {
    return `torch-peer.py --probe printed no JSON: ${r.stdout.slice(0, 200)}`;
  }
}

/** "OpenBLAS (libopenblasp-r0.3.21.so)" for a bench's header line. */
export function describeBlas(blas: BlasFinding): string {
  const name: Record<BlasKind, string> = { openblas: "OpenBLAS", mkl: "MKL", blis: "BLIS", atlas: "ATLAS", accelerate: "Accelerate", reference: "reference BLAS", unknown: "BLAS not identified" };
  const where = blas.evidence.startsWith("/") ? basename(blas.evidence) : blas.evidence;
  return `${name[blas.kind]} (${where})`;
}
