#include "CKernels.h"

// Keyed hash of values by canonical position (see CKernels.h): the sum over elements of
// mix((bits ^ index * multiplier) + offset), mix being MurmurHash3's 32-bit finaliser (a bijection).
// Sums are order-free, so each side is read in its own storage order; the AVX2 form adds the same
// terms in 8 lanes, so both forms give the same sums.

static inline uint32_t finalise(uint32_t x) {
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

static void position_hash32_tail(const uint32_t *bits, size_t count, uint32_t index, uint32_t stride,
                                 const CKernels_hash_keys *keys, uint32_t sums[2], uint32_t *non_finite) {
    for (size_t i = 0; i < count; i++, index += stride) {
        uint32_t v = bits[i];
        *non_finite |= (v & 0x7f800000u) == 0x7f800000u;
        sums[0] += finalise((v ^ index * keys->multiplier[0]) + keys->offset[0]);
        sums[1] += finalise((v ^ index * keys->multiplier[1]) + keys->offset[1]);
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2"))) static inline __m256i finalise8(__m256i x) {
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)0x85ebca6bu));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 13));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)0xc2b2ae35u));
    return _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
}

__attribute__((target("avx2"))) static inline uint32_t lane_sum(__m256i v) {
    uint32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, v);
    uint32_t sum = 0;
    for (int k = 0; k < 8; k++) sum += lanes[k];
    return sum;
}

__attribute__((target("avx2"))) static void position_hash32_avx2(const uint32_t *bits, size_t count, uint32_t first,
                                                                 uint32_t stride, const CKernels_hash_keys *keys,
                                                                 uint32_t sums[2], uint32_t *non_finite) {
    const __m256i exponent = _mm256_set1_epi32(0x7f800000);
    const __m256i m0 = _mm256_set1_epi32((int)keys->multiplier[0]), m1 = _mm256_set1_epi32((int)keys->multiplier[1]);
    const __m256i o0 = _mm256_set1_epi32((int)keys->offset[0]), o1 = _mm256_set1_epi32((int)keys->offset[1]);
    const __m256i step = _mm256_set1_epi32((int)(stride * 8u));
    __m256i index = _mm256_add_epi32(_mm256_set1_epi32((int)first),
                                     _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)stride)));
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256(), bad = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(bits + i));
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(_mm256_and_si256(v, exponent), exponent));
        s0 = _mm256_add_epi32(s0, finalise8(_mm256_add_epi32(_mm256_xor_si256(v, _mm256_mullo_epi32(index, m0)), o0)));
        s1 = _mm256_add_epi32(s1, finalise8(_mm256_add_epi32(_mm256_xor_si256(v, _mm256_mullo_epi32(index, m1)), o1)));
        index = _mm256_add_epi32(index, step);
    }
    sums[0] += lane_sum(s0);
    sums[1] += lane_sum(s1);
    *non_finite |= !_mm256_testz_si256(bad, bad);
    position_hash32_tail(bits + i, count - i, first + (uint32_t)i * stride, stride, keys, sums, non_finite);
}
#endif

void CKernels_position_hash32(const float *values, size_t count, uint32_t first, uint32_t stride,
                              const CKernels_hash_keys *keys, uint32_t sums[2], uint32_t *non_finite) {
    const uint32_t *bits = (const uint32_t *)values;
#if defined(__x86_64__) || defined(__i386__)
    if (CKernels_uses_avx2()) {
        position_hash32_avx2(bits, count, first, stride, keys, sums, non_finite);
        return;
    }
#endif
    position_hash32_tail(bits, count, first, stride, keys, sums, non_finite);
}
