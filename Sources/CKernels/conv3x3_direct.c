#include "CKernels.h"
#include "simd.h"

#define PADDED_STRIDE(W) (ROUND_UP((W), 16) + 2)

#define SIMD_BODY "conv3x3_direct_body.h"
#include "simd_variants.h"

size_t CKernels_conv3x3_packed_count(size_t K, size_t C) { return ROUND_UP(K, 4) * C * 9; }

void CKernels_conv3x3_pack(const float *weights, size_t K, size_t C, float *packed) {
    for (size_t k = 0; k < ROUND_UP(K, 4); k++)
        for (size_t c = 0; c < C; c++)
            for (size_t tap = 0; tap < 9; tap++)
                packed[((k / 4 * C + c) * 9 + tap) * 4 + k % 4] = k < K ? weights[(k * C + c) * 9 + tap] : 0.0f;
}

size_t CKernels_conv3x3_padded_count(size_t C, size_t H, size_t W) { return C * (H + 2) * PADDED_STRIDE(W); }

void CKernels_conv3x3_pad(const float *input, size_t C, size_t H, size_t W, float *padded) {
    const size_t stride = PADDED_STRIDE(W);
    memset(padded, 0, CKernels_conv3x3_padded_count(C, H, W) * sizeof(float));
    for (size_t c = 0; c < C; c++)
        for (size_t y = 0; y < H; y++) memcpy(padded + (c * (H + 2) + y + 1) * stride + 1, input + (c * H + y) * W, W * sizeof(float));
}

void CKernels_conv3x3_rows(const float *padded, size_t C, size_t H, size_t W, const float *packed, size_t K,
                           const float *bias, int relu, size_t y0, size_t y1, float *output) {
    DISPATCH(direct_rows, padded, C, H, W, PADDED_STRIDE(W), packed, K, bias, relu, y0, y1, output);
}
