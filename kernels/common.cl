/* physnn — helpers prepended to every OpenCL program.
 * Portable OpenCL C 1.2: no vendor extensions; FP16 is storage only. */

/* Index guard for kernels launched with a global size rounded up to the
 * work-group size. */
#define PHYSNN_GUARD(i, n) if ((i) >= (n)) return
