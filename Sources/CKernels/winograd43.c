#include "CKernels.h"
#include <string.h>

#define S2 1.41421356237309504880f

// G g for a 3-vector -> 6 values.
static inline void g3(const float g[3], float y[6]) {
    y[0] = g[0];
    y[1] = -2.0f / 3 * g[0] - S2 / 3 * g[1] - 1.0f / 3 * g[2];
    y[2] = -2.0f / 3 * g[0] + S2 / 3 * g[1] - 1.0f / 3 * g[2];
    y[3] = 1.0f / 6 * g[0] + S2 / 6 * g[1] + 1.0f / 3 * g[2];
    y[4] = 1.0f / 6 * g[0] - S2 / 6 * g[1] + 1.0f / 3 * g[2];
    y[5] = g[2];
}

void CKernels_winograd43_weights(const float *weights, size_t K, size_t C, float *U) {
    for (size_t k = 0; k < K; k++) {
        for (size_t c = 0; c < C; c++) {
            const float *g = weights + (k * C + c) * 9;
            float t[6][3], u[6][6];
            for (int j = 0; j < 3; j++) {  // G applied to each column of g
                float col[3] = {g[j], g[3 + j], g[6 + j]}, out[6];
                g3(col, out);
                for (int i = 0; i < 6; i++) t[i][j] = out[i];
            }
            for (int i = 0; i < 6; i++) g3(t[i], u[i]);  // then to each row: (G g) G^T
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) U[(size_t)(i * 6 + j) * K * C + k * C + c] = u[i][j];
        }
    }
}

// Eight tiles at a time: one vector lane per tile, so the transforms' arithmetic runs 8-wide and the
// V / M rows (consecutive tiles) are read and written contiguously.
typedef float v8 __attribute__((vector_size(32)));
#define LANES 8

static inline void bt6v(const v8 x[6], v8 y[6]) {
    const v8 a = x[4] - 2.0f * x[2], b = S2 * x[1] - 0.5f * S2 * x[3];
    const v8 c = x[4] - 0.5f * x[2], d = 0.5f * S2 * x[1] - S2 * x[3];
    y[0] = x[0] - 2.5f * x[2] + x[4];
    y[1] = a - b;
    y[2] = a + b;
    y[3] = c - d;
    y[4] = c + d;
    y[5] = x[1] - 2.5f * x[3] + x[5];
}

static inline void at6v(const v8 m[6], v8 y[4]) {
    const v8 p12 = m[1] + m[2], m12 = m[1] - m[2], p34 = m[3] + m[4], m34 = m[3] - m[4];
    y[0] = m[0] + p12 + p34;
    y[1] = 0.5f * S2 * m12 + S2 * m34;
    y[2] = 0.5f * p12 + 2.0f * p34;
    y[3] = 0.25f * S2 * m12 + 2.0f * S2 * m34 + m[5];
}

void CKernels_winograd43_input(const float *input, size_t C, size_t H, size_t W, size_t first, size_t count,
                               size_t c0, size_t c1, float *V) {
    const size_t tiles_w = (W + 3) / 4;
    const size_t plane = C * count;
    for (size_t t = first; t < first + count; t += LANES) {
        const size_t lanes = first + count - t < LANES ? first + count - t : LANES;
        long ys[LANES], xs[LANES];
        int interior = lanes == LANES;
        for (size_t q = 0; q < lanes; q++) {
            ys[q] = (long)((t + q) / tiles_w) * 4 - 1;
            xs[q] = (long)((t + q) % tiles_w) * 4 - 1;
            if (ys[q] < 0 || xs[q] < 0 || ys[q] + 6 > (long)H || xs[q] + 6 > (long)W) interior = 0;
        }
        for (size_t c = c0; c < c1; c++) {
            const float *x = input + c * H * W;
            v8 d[6][6], r[6][6];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    v8 value = {0, 0, 0, 0, 0, 0, 0, 0};
                    if (interior) {
                        for (int q = 0; q < LANES; q++) value[q] = x[(ys[q] + i) * (long)W + xs[q] + j];
                    } else {
                        for (size_t q = 0; q < lanes; q++) {
                            const long yy = ys[q] + i, xx = xs[q] + j;
                            if (yy >= 0 && yy < (long)H && xx >= 0 && xx < (long)W) value[q] = x[yy * (long)W + xx];
                        }
                    }
                    d[i][j] = value;
                }
            for (int j = 0; j < 6; j++) {
                v8 col[6] = {d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]}, out[6];
                bt6v(col, out);
                for (int i = 0; i < 6; i++) r[i][j] = out[i];
            }
            float *v = V + c * count + (t - first);
            for (int i = 0; i < 6; i++) {
                v8 out[6];
                bt6v(r[i], out);
                for (int j = 0; j < 6; j++) {
                    float *dst = v + (size_t)(i * 6 + j) * plane;
                    if (lanes == LANES) memcpy(dst, &out[j], sizeof(v8));
                    else for (size_t q = 0; q < lanes; q++) dst[q] = out[j][q];
                }
            }
        }
    }
}

void CKernels_winograd43_output(const float *M, size_t K, size_t H, size_t W, size_t first, size_t count,
                                size_t k0, size_t k1, const float *bias, int relu, float *output) {
    const size_t tiles_w = (W + 3) / 4;
    const size_t plane = K * count;
    for (size_t k = k0; k < k1; k++) {
        float *y = output + k * H * W;
        const float b = bias ? bias[k] : 0.0f;
        for (size_t t = first; t < first + count; t += LANES) {
            const size_t lanes = first + count - t < LANES ? first + count - t : LANES;
            const float *m = M + k * count + (t - first);
            v8 mm[6][6], r[4][6], o[4][4];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    const float *src = m + (size_t)(i * 6 + j) * plane;
                    v8 value = {0, 0, 0, 0, 0, 0, 0, 0};
                    if (lanes == LANES) memcpy(&value, src, sizeof(v8));
                    else for (size_t q = 0; q < lanes; q++) value[q] = src[q];
                    mm[i][j] = value;
                }
            for (int j = 0; j < 6; j++) {
                v8 col[6] = {mm[0][j], mm[1][j], mm[2][j], mm[3][j], mm[4][j], mm[5][j]}, out[4];
                at6v(col, out);
                for (int i = 0; i < 4; i++) r[i][j] = out[i];
            }
            for (int i = 0; i < 4; i++) at6v(r[i], o[i]);
            size_t row = t / tiles_w, column = t % tiles_w;
            for (size_t q = 0; q < lanes; q++, column++) {
                if (column == tiles_w) { column = 0; row++; }
                const size_t ty = row * 4, tx = column * 4;
                for (int i = 0; i < 4 && ty + i < H; i++)
                    for (int j = 0; j < 4 && tx + j < W; j++) {
                        const float v = o[i][j][q] + b;
                        y[(ty + i) * W + tx + j] = (relu && v < 0) ? 0.0f : v;
                    }
            }
        }
    }
}
