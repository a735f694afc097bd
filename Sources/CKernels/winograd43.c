#include "CKernels.h"
#include "simd.h"

#define S2 1.41421356237309504880f
#define LANES 8
#define PANEL_ROWS CKERNELS_WINOGRAD_PANEL_ROWS
#define PANEL_COLUMNS CKERNELS_WINOGRAD_PANEL_COLUMNS
#define CONCAT4(a, b) __builtin_shufflevector((a), (b), 0, 1, 2, 3, 4, 5, 6, 7)

size_t CKernels_winograd43_packed_count(size_t K, size_t C) { return 36 * ROUND_UP(K, PANEL_ROWS) * C; }

// The stages, once per instruction set (AVX-512, AVX2 + FMA, baseline; chosen at run time).
#define SIMD_BODY "winograd43_body.h"
#include "simd_variants.h"

void CKernels_winograd43_weights(const float *weights, size_t K, size_t C, size_t p0, size_t p1, float *U) {
    DISPATCH(weights, weights, K, C, p0, p1, U);
}

void CKernels_winograd43_input(const float *input, size_t C, size_t H, size_t W, size_t first, size_t count,
                               size_t c0, size_t c1, float *V) {
    DISPATCH(input, input, C, H, W, first, count, c0, c1, V);
}

void CKernels_winograd43_multiply(const float *U, const float *V, size_t K, size_t C, size_t count, size_t p0, size_t p1,
                                  size_t t0, size_t t1, float *M) {
    DISPATCH(multiply, U, V, K, C, count, p0, p1, t0, t1, M);
}

void CKernels_winograd43_output(const float *M, size_t K, size_t H, size_t W, size_t first, size_t count,
                                size_t t0, size_t t1, size_t k0, size_t k1, const float *bias, int relu, int pool, float *output) {
    DISPATCH(output, M, K, H, W, first, count, t0, t1, k0, k1, bias, relu, pool, output);
}
