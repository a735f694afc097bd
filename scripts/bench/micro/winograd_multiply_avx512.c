// The experiment behind docs/inference.md "AVX-512 multiply": the engine's Winograd multiply stage
// (CKernels_winograd43_multiply, the AVX2 6 x 16 micro-kernel) against AVX-512 micro-kernels over the same
// packed U and V, one core, at VGG16's block shapes. Run: bash scripts/bench/micro/run.sh
// Prints GFLOP/s of the 36 coordinate products (72 * K * C * tiles flops) for each kernel; best of 5.
#include "CKernels.h"
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PANEL CKERNELS_WINOGRAD_PANEL_ROWS

// rows x 16*cols of M from `rows / PANEL` U panels and `cols` 16-tile V panels; rows/cols compile-time.
#define KERNEL(NAME, PANELS, COLS)                                                                          \
    __attribute__((target("avx512f"))) static void NAME(const float *u, const float *v, size_t C, float *m, size_t ldm) { \
        __m512 acc[PANELS * PANEL][COLS];                                                                    \
        for (int r = 0; r < PANELS * PANEL; r++)                                                             \
            for (int j = 0; j < COLS; j++) acc[r][j] = _mm512_setzero_ps();                                 \
        for (size_t c = 0; c < C; c++) {                                                                     \
            __m512 x[COLS];                                                                                  \
            for (int j = 0; j < COLS; j++) x[j] = _mm512_loadu_ps(v + j * 16 * C + 16 * c);                 \
            for (int p = 0; p < PANELS; p++)                                                                 \
                for (int r = 0; r < PANEL; r++) {                                                            \
                    const __m512 w = _mm512_set1_ps(u[p * PANEL * C + c * PANEL + r]);                       \
                    for (int j = 0; j < COLS; j++) acc[p * PANEL + r][j] = _mm512_fmadd_ps(w, x[j], acc[p * PANEL + r][j]); \
                }                                                                                            \
        }                                                                                                    \
        for (int r = 0; r < PANELS * PANEL; r++)                                                             \
            for (int j = 0; j < COLS; j++) _mm512_storeu_ps(m + r * ldm + 16 * j, acc[r][j]);               \
    }
KERNEL(k6x32, 1, 2)
KERNEL(k12x16, 2, 1)
KERNEL(k12x32, 2, 2)

typedef void (*Kernel)(const float *, const float *, size_t, float *, size_t);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

// One block: for each coordinate, every panel pair of U against every column group of V.
static void multiply(Kernel kernel, int panels, int cols, const float *U, const float *V, size_t Kp, size_t C, size_t width, float *M) {
    for (size_t xi = 0; xi < 36; xi++)
        for (size_t p = 0; p < Kp; p += panels * PANEL)
            for (size_t col = 0; col < width; col += 16 * cols)
                kernel(U + xi * Kp * C + p * C, V + xi * C * width + col * C, C, M + xi * Kp * width + p * width + col, width);
}

int main(void) {
    // (C, K, tiles per block) as the engine forms them for VGG16 (96 KiB slices of V): conv5 at batch 1 has
    // 16 tiles, conv4 48; kernels 32 tiles wide run only where the block is a multiple of 32.
    const size_t shapes[][3] = {{512, 512, 16}, {512, 512, 32}, {512, 512, 64}, {256, 256, 96}, {128, 128, 192}, {64, 64, 384}};
    const char *names[] = {"engine AVX2 6x16", "AVX-512 6x32", "AVX-512 12x16", "AVX-512 12x32"};
    const Kernel kernels[] = {NULL, k6x32, k12x16, k12x32};
    const int panels[] = {1, 1, 2, 2}, cols[] = {1, 2, 1, 2};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const size_t C = shapes[s][0], K = shapes[s][1], width = shapes[s][2], Kp = (K + 2 * PANEL - 1) / (2 * PANEL) * (2 * PANEL);
        float *U = aligned_alloc(64, 36 * Kp * C * 4), *V = aligned_alloc(64, 36 * C * width * 4), *M = aligned_alloc(64, 36 * Kp * width * 4);
        for (size_t i = 0; i < 36 * Kp * C; i++) U[i] = (float)(i % 7) - 3;
        for (size_t i = 0; i < 36 * C * width; i++) V[i] = (float)(i % 5) - 2;
        for (int k = 0; k < 4; k++) {
            if (width % (16 * cols[k])) continue;
            double best = 1e9;
            for (int round = 0; round < 8; round++) {
                const double start = now();
                if (kernels[k]) multiply(kernels[k], panels[k], cols[k], U, V, Kp, C, width, M);
                else CKernels_winograd43_multiply(U, V, K, C, width, 0, (K + PANEL - 1) / PANEL, M);
                const double t = now() - start;
                if (round >= 3 && t < best) best = t;
            }
            printf("C=%4zu K=%4zu tiles=%3zu  %-17s %6.1f GFLOP/s\n", C, K, width, names[k], 72.0 * K * C * width / best / 1e9);
        }
        free(U), free(V), free(M);
    }
    return 0;
}
