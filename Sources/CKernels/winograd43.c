#include "CKernels.h"
#include "simd.h"

#define S2 1.41421356237309504880f
#define LANES 8
#define PANEL_ROWS CKERNELS_WINOGRAD_PANEL_ROWS
#define PANEL_COLUMNS 16
#define CONCAT4(a, b) __builtin_shufflevector((a), (b), 0, 1, 2, 3, 4, 5, 6, 7)

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

void CKernels_winograd43_weights(const float *weights, size_t K, size_t C, size_t p0, size_t p1, float *U) {
    const size_t Kp = ROUND_UP(K, PANEL_ROWS);
    for (size_t k = p0 * PANEL_ROWS; k < p1 * PANEL_ROWS && k < Kp; k++) {
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
#define SIMD_BODY "winograd43_body.h"
#include "simd_variants.h"

void CKernels_winograd43_input(const float *input, size_t C, size_t H, size_t W, size_t first, size_t count,
                               size_t c0, size_t c1, float *V) {
    DISPATCH(input, input, C, H, W, first, count, c0, c1, V);
}

void CKernels_winograd43_multiply(const float *U, const float *V, size_t K, size_t C, size_t count, size_t p0, size_t p1,
                                  float *M) {
    DISPATCH(multiply, U, V, K, C, count, p0, p1, M);
}

void CKernels_winograd43_output(const float *M, size_t K, size_t H, size_t W, size_t first, size_t count,
                                size_t k0, size_t k1, const float *bias, int relu, int pool, float *output) {
    DISPATCH(output, M, K, H, W, first, count, k0, k1, bias, relu, pool, output);
}
