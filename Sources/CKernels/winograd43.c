#include "CKernels.h"
#include <stdlib.h>
#include <string.h>

#define S2 1.41421356237309504880f
#define LANES 8
#define PANEL_ROWS CKERNELS_WINOGRAD_PANEL_ROWS
#define PANEL_COLUMNS 16
#define ROUND_UP(n, m) (((n) + (m) - 1) / (m) * (m))
#define CONCAT4(a, b) __builtin_shufflevector((a), (b), 0, 1, 2, 3, 4, 5, 6, 7)

typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
typedef float v2 __attribute__((vector_size(8)));

// G g for a 3-vector -> 6 values.
static inline void g3(const float g[3], float y[6]) {
    y[0] = g[0];
    y[1] = -2.0f / 3 * g[0] - S2 / 3 * g[1] - 1.0f / 3 * g[2];
    y[2] = -2.0f / 3 * g[0] + S2 / 3 * g[1] - 1.0f / 3 * g[2];
    y[3] = 1.0f / 6 * g[0] + S2 / 6 * g[1] + 1.0f / 3 * g[2];
    y[4] = 1.0f / 6 * g[0] - S2 / 6 * g[1] + 1.0f / 3 * g[2];
    y[5] = g[2];
}

size_t CKernels_winograd43_packed_count(size_t K, size_t C) { return 36 * ROUND_UP(K, PANEL_ROWS) * C; }

void CKernels_winograd43_weights(const float *weights, size_t K, size_t C, float *U) {
    const size_t Kp = ROUND_UP(K, PANEL_ROWS);
    for (size_t k = 0; k < Kp; k++) {
        for (size_t c = 0; c < C; c++) {
            float u[6][6] = {{0}};
            if (k < K) {
                const float *g = weights + (k * C + c) * 9;
                float t[6][3];
                for (int j = 0; j < 3; j++) {  // G applied to each column of g
                    float col[3] = {g[j], g[3 + j], g[6 + j]}, out[6];
                    g3(col, out);
                    for (int i = 0; i < 6; i++) t[i][j] = out[i];
                }
                for (int i = 0; i < 6; i++) g3(t[i], u[i]);  // then to each row: (G g) G^T
            }
            for (int xi = 0; xi < 36; xi++) U[(size_t)xi * Kp * C + (k / PANEL_ROWS) * PANEL_ROWS * C + c * PANEL_ROWS + k % PANEL_ROWS] = u[xi / 6][xi % 6];
        }
    }
}

// The stages, once for AVX2 + FMA (chosen at run time) and once for the baseline instruction set.
#if defined(__x86_64__) || defined(__i386__)
#define WG(name) name##_avx2
#define WG_TARGET __attribute__((target("avx2,fma")))
#include "winograd43_body.h"
#undef WG
#undef WG_TARGET
#define HAVE_AVX2_VARIANT 1
#endif
#define WG(name) name##_generic
#define WG_TARGET
#include "winograd43_body.h"
#undef WG
#undef WG_TARGET

/// 1 when the AVX2 variant runs: the CPU has AVX2 and FMA and VGGCONV_SIMD is not "generic".
int CKernels_winograd43_uses_avx2(void) {
#ifdef HAVE_AVX2_VARIANT
    static int cached = -1;
    if (cached < 0) {
        const char *choice = getenv("VGGCONV_SIMD");
        __builtin_cpu_init();
        cached = !(choice && strcmp(choice, "generic") == 0) && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
#else
    return 0;
#endif
}

#ifdef HAVE_AVX2_VARIANT
#define DISPATCH(name, ...) (CKernels_winograd43_uses_avx2() ? name##_avx2(__VA_ARGS__) : name##_generic(__VA_ARGS__))
#else
#define DISPATCH(name, ...) name##_generic(__VA_ARGS__)
#endif

void CKernels_winograd43_input(const float *input, size_t C, size_t H, size_t W, size_t first, size_t count,
                               size_t c0, size_t c1, float *V) {
    DISPATCH(input, input, C, H, W, first, count, c0, c1, V);
}

void CKernels_winograd43_multiply(const float *U, const float *V, size_t K, size_t C, size_t count, size_t p0, size_t p1,
                                  float *M) {
    DISPATCH(multiply, U, V, K, C, count, p0, p1, M);
}

void CKernels_winograd43_output(const float *M, size_t K, size_t H, size_t W, size_t first, size_t count,
                                size_t k0, size_t k1, const float *bias, int relu, float *output) {
    DISPATCH(output, M, K, H, W, first, count, k0, k1, bias, relu, output);
}
