/**
 * A system BLAS (OpenBLAS or BLIS) through the `koffi` FFI, found at run time: in Node, when both
 * the package and a library are there. Nothing here is required: `loadBlas()` returns null when
 * either is missing (and always in browsers), and the backend uses its own wasm GEMM.
 */

/**
 * cblas_?gemm on typed arrays (views of the wasm memory), row-major, dense: C (m x n) = A (m x k)
 * @ B (k x n), where A is stored k x m when `ta`, and B n x k when `tb`.
 */
export interface Blas {
  /** The library that was loaded. */
  readonly library: string;
  /**
   * OpenBLAS's kernel table (`openblas_get_corename`: "Cooperlake", "SkylakeX", "Haswell", ...),
   * null for other libraries. OpenBLAS picks it from the CPU unless `OPENBLAS_CORETYPE` names one.
   */
  readonly core: string | null;
  sgemm(m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array, ta?: boolean, tb?: boolean): void;
  dgemm(m: number, n: number, k: number, a: Float64Array, b: Float64Array, c: Float64Array, ta?: boolean, tb?: boolean): void;
  /** The library's thread count, and a setter (OpenBLAS only; null where the library has none). */
  readonly threads: { get(): number; set(n: number): void } | null;
}

/** Library names tried in order. */
export const BLAS_LIBRARIES = [
  "libopenblas.so.0", "libopenblas.so", "libblis.so.4", "libblis.so", "libopenblas.dylib",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib", "/usr/local/opt/openblas/lib/libopenblas.dylib",
];

const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

interface Koffi {
  load(path: string): { func(decl: string): (...args: unknown[]) => unknown };
}

let cached: Blas | null | undefined;

/** The system BLAS, or null when there is none (or no FFI). Loaded once per process. */
export function loadBlas(): Blas | null {
  if (cached !== undefined) return cached;
  cached = null;
  const proc = (globalThis as { process?: { getBuiltinModule?: (m: string) => unknown } }).process;
  const mod = proc?.getBuiltinModule?.("node:module") as { createRequire(u: string): (id: string) => unknown } | undefined;
  if (!mod) return null;
  let koffi: Koffi;
  try {
    koffi = mod.createRequire(import.meta.url)("koffi") as Koffi;
  } catch {
    return null;
  }
  for (const library of BLAS_LIBRARIES) {
    let lib;
    try {
      lib = koffi.load(library);
    } catch {
      continue;
    }
    try {
      const s = lib.func("void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, void *a, int lda, void *b, int ldb, float beta, void *c, int ldc)");
      const d = lib.func("void cblas_dgemm(int order, int ta, int tb, int m, int n, int k, double alpha, void *a, int lda, void *b, int ldb, double beta, void *c, int ldc)");
      let threads: Blas["threads"] = null, core: string | null = null;
      try {
        const get = lib.func("int openblas_get_num_threads()"), set = lib.func("void openblas_set_num_threads(int n)");
        threads = { get: () => get() as number, set: (n) => void set(n) };
        core = lib.func("const char *openblas_get_corename()")() as string;
      } catch {
        // Not OpenBLAS: the library keeps its own threading.
      }
      cached = {
        library,
        core,
        threads,
        sgemm: (m, n, k, a, b, c, ta = false, tb = false) =>
          void s(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c, n),
        dgemm: (m, n, k, a, b, c, ta = false, tb = false) =>
          void d(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 0, c, n),
      };
      return cached;
    } catch {
      continue;
    }
  }
  return null;
}
