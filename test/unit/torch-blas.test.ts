// Which BLAS the PyTorch peer uses, from what `torch-peer.py --probe` reports, and the
// refusal of a peer on the reference BLAS (bench/torch-blas.ts). The Debian paths are the
// files of bookworm's libblas3 and libopenblas0-pthread as /proc/self/maps shows them once
// loaded (symlinks resolved).

import { describe, expect, it } from "vitest";
import { describeBlas, peerRefusal, torchBlas } from "../../bench/torch-blas.js";

const LIB = "/usr/lib/x86_64-linux-gnu";
const TORCH_LIBS = [`${LIB}/libtorch_cpu.so.1.13.1`, `${LIB}/libc10.so.1.13.1`, `${LIB}/libgomp.so.1.0.0`, "/usr/lib/python3/dist-packages/torch/_C.cpython-311-x86_64-linux-gnu.so"];
const DEBIAN_REFERENCE = [...TORCH_LIBS, `${LIB}/blas/libblas.so.3.11.0`, `${LIB}/lapack/liblapack.so.3.11.0`];
const DEBIAN_OPENBLAS = [...TORCH_LIBS, `${LIB}/libgfortran.so.5.0.0`, `${LIB}/openblas-pthread/libblas.so.3`, `${LIB}/openblas-pthread/liblapack.so.3`, `${LIB}/openblas-pthread/libopenblasp-r0.3.21.so`];
/** What a build says it linked against; Debian's links libblas.so.3, whichever that is. */
const config = (blasInfo: string) =>
  `PyTorch built with:\n  - GCC 12.2\n  - C++ Version: 201703\n  - OpenMP 201511 (a.k.a. OpenMP 4.5)\n  - LAPACK is enabled (usually provided by MKL)\n  - Build settings: BLAS_INFO=${blasInfo}, BUILD_TYPE=Release, CXX_COMPILER=/usr/bin/c++, LAPACK_INFO=${blasInfo}, TORCH_VERSION=1.13.1, USE_CUDA=OFF, USE_MKL=OFF,\n`;

describe("which BLAS torch computes with", () => {
  it("Debian's python3-torch with only libblas3 installed: the reference BLAS", () => {
    expect(torchBlas(DEBIAN_REFERENCE, config("open"))).toEqual({ kind: "reference", evidence: `${LIB}/blas/libblas.so.3.11.0` });
  });

  it("the same torch once libopenblas0-pthread is installed: OpenBLAS, though the file is libblas.so.3 too", () => {
    expect(torchBlas(DEBIAN_OPENBLAS, config("open")).kind).toBe("openblas");
  });

  it("the mapped files win over BLAS_INFO, which is what the build saw", () => {
    expect(torchBlas(DEBIAN_REFERENCE, config("mkl")).kind).toBe("reference");
  });

  it("a PyPI wheel's OpenBLAS bundled with numpy does not hide torch's reference BLAS", () => {
    const numpyWheel = "/usr/local/lib/python3.11/dist-packages/numpy.libs/libopenblas64_p-r0-5007b62f.3.23.dev.so";
    expect(torchBlas([numpyWheel, ...DEBIAN_REFERENCE], config("open")).kind).toBe("reference");
    expect(torchBlas(["/opt/venv/lib/python3.11/site-packages/numpy/.libs/libopenblasp-r0-2d23e62b.3.9.so", ...DEBIAN_REFERENCE], "").kind).toBe("reference");
  });

  it("PyPI's x86 wheel, MKL linked statically: nothing mapped, BLAS_INFO=mkl", () => {
    const wheel = ["/opt/venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so", "/opt/venv/lib/python3.11/site-packages/torch/lib/libgomp-a34b3233.so.1"];
    expect(torchBlas(wheel, config("mkl"))).toEqual({ kind: "mkl", evidence: "BLAS_INFO=mkl in torch.__config__.show(), no BLAS library mapped" });
  });

  it("conda's MKL and a FlexiBLAS netlib backend", () => {
    expect(torchBlas(["/opt/conda/lib/libmkl_core.so.2", "/opt/conda/lib/libmkl_intel_lp64.so.2"], "").kind).toBe("mkl");
    expect(torchBlas(["/usr/lib64/libflexiblas.so.3.3", "/usr/lib64/flexiblas/libflexiblas_netlib.so"], "").kind).toBe("reference");
    expect(torchBlas(["/usr/lib64/libflexiblas.so.3.3", "/usr/lib64/flexiblas/libflexiblas_openblas-openmp.so"], "").kind).toBe("openblas");
  });

  it("nothing to go by: unknown, saying so", () => {
    expect(torchBlas([], "")).toMatchObject({ kind: "unknown", evidence: expect.stringContaining("no shared objects") });
    expect(torchBlas(TORCH_LIBS, config("generic"))).toMatchObject({ kind: "unknown", evidence: expect.stringContaining("BLAS_INFO=generic") });
  });
});

describe("a peer on the reference BLAS is refused", () => {
  it("on the CPU: refused, naming the library and what to install", () => {
    const refusal = peerRefusal(torchBlas(DEBIAN_REFERENCE, ""), "cpu");
    expect(refusal).toContain(`${LIB}/blas/libblas.so.3.11.0`);
    expect(refusal).toContain("libopenblas0-pthread");
    expect(refusal).toContain("scripts/bench-setup.sh");
  });

  it("OpenBLAS and MKL are peers; on CUDA the CPU BLAS does not matter", () => {
    expect(peerRefusal(torchBlas(DEBIAN_OPENBLAS, ""), "cpu")).toBeNull();
    expect(peerRefusal(torchBlas([], config("mkl")), "cpu")).toBeNull();
    expect(peerRefusal(torchBlas(DEBIAN_REFERENCE, ""), "cuda")).toBeNull();
  });

  it("the bench's header names the BLAS by kind, not by a file name that fits both", () => {
    expect(describeBlas(torchBlas(DEBIAN_OPENBLAS, ""))).toBe("OpenBLAS (libopenblasp-r0.3.21.so)");
    expect(describeBlas(torchBlas(DEBIAN_REFERENCE, ""))).toBe("reference BLAS (libblas.so.3.11.0)");
  });
});
