#include "CKernels.h"
#include "simd.h"

#define DENSE_MAX_BATCH CKERNELS_DENSE_MAX_BATCH

float CKernels_half_to_float(uint16_t bits) {
    const uint32_t sign = (uint32_t)(bits & 0x8000) << 16, exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
    uint32_t out;
    if (exponent == 0x1f) {
        out = sign | 0x7f800000 | mantissa << 13 | (mantissa ? 0x400000 : 0);  // infinity; NaN quieted, as F16C does
    } else if (exponent != 0) {
        out = sign | (exponent + 112) << 23 | mantissa << 13;  // rebias 15 -> 127
    } else if (mantissa == 0) {
        out = sign;
    } else {  // subnormal: mantissa * 2^-24, normalised
        uint32_t m = mantissa, shift = 0;
        while (!(m & 0x400)) m <<= 1, shift++;
        out = sign | (113 - shift) << 23 | (m & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &out, sizeof f);
    return f;
}

// Eight half-precision values widened into *out: one F16C instruction in the AVX2 variant. (Results through
// pointers: a v8 return value changes the ABI of the baseline variant.)
#ifdef HAVE_AVX2_VARIANT
#include <immintrin.h>
__attribute__((target("avx2,fma,f16c"))) static inline void widen8_avx2(const uint16_t *p, v8 *out) {
    __m128i h;
    memcpy(&h, p, sizeof h);
    const __m256 f = _mm256_cvtph_ps(h);
    memcpy(out, &f, sizeof f);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))) static inline void widen8_avx512(const uint16_t *p, v8 *out) {
    __m128i h;
    memcpy(&h, p, sizeof h);
    const __m256 f = _mm256_cvtph_ps(h);
    memcpy(out, &f, sizeof f);
}
#endif
static inline void widen8_generic(const uint16_t *p, v8 *out) {
    for (int i = 0; i < 8; i++) (*out)[i] = CKernels_half_to_float(p[i]);
}

#define SIMD_BODY "dense_body.h"
#include "simd_variants.h"

void CKernels_dense_small_batch(const float *x, size_t batch, size_t inputs, const float *w, size_t u0, size_t u1,
                                float *y, size_t ldy) {
    DISPATCH(dense_rows, x, batch, inputs, w, 0, u0, u1, y, ldy);
}

void CKernels_dense_small_batch_f16(const float *x, size_t batch, size_t inputs, const uint16_t *w, size_t u0, size_t u1,
                                    float *y, size_t ldy) {
    DISPATCH(dense_rows, x, batch, inputs, w, 1, u0, u1, y, ldy);
}

void CKernels_widen_halves(const uint16_t *halves, size_t count, float *floats) { DISPATCH(widen, halves, count, floats); }
