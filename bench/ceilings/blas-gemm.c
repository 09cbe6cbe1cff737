/*
 * OpenBLAS sgemm called from C: C = A @ B, fp32, square n (row-major, no transposes), in GFLOP/s
 * (2 n^3 flops per product). The ceiling for a framework that hands its GEMM to the same library.
 *
 *   gcc -O2 blas-gemm.c -o blas-gemm -ldl && ./blas-gemm [threads=2] [seconds=1] [sizes...=512 1024 2048]
 *
 * The library is opened at run time (dlopen "libopenblas.so.0", the runtime package's soname), so
 * no -dev package is needed; cblas_sgemm's prototype is declared here. OpenBLAS's thread count is
 * set with openblas_set_num_threads. Each size: the best of 3 timing windows. Prints one JSON line.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { RowMajor = 101, NoTrans = 111 };
typedef void (*sgemm_fn)(int order, int transA, int transB, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
typedef void (*set_threads_fn)(int);
typedef char *(*get_config_fn)(void);

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') putchar('\\');
    if ((unsigned char)*s >= 32) putchar(*s);
  }
  putchar('"');
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  double seconds = argc > 2 ? atof(argv[2]) : 1.0;
  int sizes[16], nsizes = 0;
  for (int i = 3; i < argc && nsizes < 16; i++) sizes[nsizes++] = atoi(argv[i]);
  if (nsizes == 0) { sizes[0] = 512; sizes[1] = 1024; sizes[2] = 2048; nsizes = 3; }

  void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!lib) { printf("{\"error\":"); json_string(dlerror()); printf("}\n"); return 1; }
  sgemm_fn sgemm = (sgemm_fn)dlsym(lib, "cblas_sgemm");
  set_threads_fn set_threads = (set_threads_fn)dlsym(lib, "openblas_set_num_threads");
  get_config_fn get_config = (get_config_fn)dlsym(lib, "openblas_get_config");
  if (!sgemm) { printf("{\"error\":\"cblas_sgemm not found in libopenblas.so.0\"}\n"); return 1; }
  if (set_threads) set_threads(threads);

  printf("{\"library\":\"libopenblas.so.0\",\"config\":");
  json_string(get_config ? get_config() : "?");
  printf(",\"threads\":%d,\"gflops\":{", threads);
  for (int s = 0; s < nsizes; s++) {
    int n = sizes[s];
    size_t bytes = (size_t)n * n * sizeof(float);
    float *a = aligned_alloc(64, bytes), *b = aligned_alloc(64, bytes), *c = aligned_alloc(64, bytes);
    for (size_t i = 0; i < (size_t)n * n; i++) {
      a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
      b[i] = (float)((i * 104729) % 997) / 997.0f - 0.5f;
    }
    memset(c, 0, bytes);
    sgemm(RowMajor, NoTrans, NoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
    sgemm(RowMajor, NoTrans, NoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    /* The best of 3 windows of seconds/3 (other processes may share the cores). */
    double best = 0;
    for (int w = 0; w < 3; w++) {
      int reps = 0;
      double t0 = now(), t = 0;
      while (reps < 2 || t < seconds / 3) {
        sgemm(RowMajor, NoTrans, NoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        reps++;
        t = now() - t0;
      }
      double g = 2.0 * n * (double)n * n * reps / t / 1e9;
      if (g > best) best = g;
    }
    printf("%s\"%d\":%.2f", s ? "," : "", n, best);
    free(a);
    free(b);
    free(c);
  }
  printf("}}\n");
  return 0;
}
