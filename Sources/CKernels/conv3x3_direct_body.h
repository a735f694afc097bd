// Direct 3x3 stride-1 'same' convolution for layers with few input channels (VGG's first layer: C = 3,
// where a GEMM has only 27-deep dot products and Winograd's transforms outweigh its savings). Compiled by
// conv3x3_direct.c once per instruction set, like winograd43_body.h. Not a public header.
//
// The input is first copied into a zero-bordered buffer (one row and column of padding on each side,
// rows padded to whole vectors) so the inner loop has no bounds checks; each step computes 4 output
// channels x 16 output pixels of one row.

static WG_TARGET void WG(direct_rows)(const float *padded, size_t C, size_t H, size_t W, size_t stride, const float *packed,
                                      size_t K, const float *bias, int relu, size_t y0, size_t y1, float *output) {
    const v8 zero = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t y = y0; y < y1; y++) {
        for (size_t x = 0; x < W; x += 16) {
            for (size_t k = 0; k < K; k += 4) {
                const float *w = packed + k * C * 9;
                v8 a00 = zero, a01 = zero, a10 = zero, a11 = zero, a20 = zero, a21 = zero, a30 = zero, a31 = zero;
                for (size_t c = 0; c < C; c++) {
                    const float *rows = padded + (c * (H + 2) + y) * stride + x;
                    for (size_t tap = 0; tap < 9; tap++, w += 4) {
                        const float *p = rows + (tap / 3) * stride + tap % 3;
                        v8 in0, in1;
                        memcpy(&in0, p, sizeof in0);
                        memcpy(&in1, p + 8, sizeof in1);
                        a00 += w[0] * in0; a01 += w[0] * in1;
                        a10 += w[1] * in0; a11 += w[1] * in1;
                        a20 += w[2] * in0; a21 += w[2] * in1;
                        a30 += w[3] * in0; a31 += w[3] * in1;
                    }
                }
                const v8 acc[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
                for (size_t r = 0; r < 4 && k + r < K; r++) {
                    float values[16];
                    for (int j = 0; j < 2; j++) {
                        v8 v = acc[r][j] + (bias ? bias[k + r] : 0.0f);
                        if (relu) v = __builtin_elementwise_max(v, zero);
                        memcpy(values + 8 * j, &v, sizeof v);
                    }
                    float *dst = output + ((k + r) * H + y) * W + x;
                    if (W - x >= 16) memcpy(dst, values, sizeof values);
                    else for (size_t j = 0; j < W - x; j++) dst[j] = values[j];
                }
            }
        }
    }
}
