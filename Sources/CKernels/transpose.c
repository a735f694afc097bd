#include "CKernels.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// Tiles of 16 result columns (16 source rows) by 64 result rows (a 256-byte run of each source row):
// each result row receives 64 contiguous bytes (a whole cache line) per tile and is not touched
// again, while the next tile's 16 source runs are prefetched.
enum { TILE_J = 16, TILE_O = 64 };

static inline const float *source_row(const float *source, size_t j, size_t groups, size_t channels,
                                      size_t columns) {
    size_t c = j / groups, g = j % groups;
    return source + (g * channels + c) * columns;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "simd.h"

// The AVX2 form: 16 source rows by 8 columns are loaded as sixteen 256-bit rows, transposed in registers
// as two 8x8 blocks and stored as 8 runs of 16 result values, a whole cache line of each result row (half
// lines were written, read back and written again); a tile of 256 result rows (1 KB of each source row)
// is finished before the next 16 source rows. Runs of 1 KB, not the 164 bytes a core got from an 8 MiB
// block of fc1's rows split by rows, took a single-core transpose of fc1 from ~2 to ~4.7 GB/s.
enum { AVX_TILE_O = 256 };

// Stores the transpose of the 8x8 block whose rows are a0..a7: row m of the result (element m of every
// input row) goes to out + m * stride.
__attribute__((target("avx2"))) static inline void store_transposed8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4,
                                                                    __m256 a5, __m256 a6, __m256 a7, float *out, size_t stride) {
    __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
    __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
    __m256 t4 = _mm256_unpacklo_ps(a4, a5), t5 = _mm256_unpackhi_ps(a4, a5);
    __m256 t6 = _mm256_unpacklo_ps(a6, a7), t7 = _mm256_unpackhi_ps(a6, a7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(out, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(out + stride, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(out + 2 * stride, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(out + 3 * stride, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(out + 4 * stride, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(out + 5 * stride, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(out + 6 * stride, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(out + 7 * stride, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// The inverse by channel's AVX2 tile: groups [0, 8k) of channels [c0, c1) over columns [o0, o1), as 8x8
// blocks (8 columns o by 8 adjacent groups of one channel); returns the first group it did not do.
__attribute__((target("avx2"))) static size_t deinterleave_channels_tile_avx2(
    const float *source, float *result, size_t groups, size_t rows, size_t columns, size_t block_first,
    size_t block_count, size_t c0, size_t c1, size_t o0, size_t o1) {
    const size_t stride = block_count * columns;
    size_t g = 0;
    for (; g + 8 <= groups; g += 8) {
        for (size_t c = c0; c < c1; c++) {
            const float *in = source + c * groups + g;
            float *out = result + (g * block_count + (c - block_first)) * columns;
            size_t o = o0;
            for (; o + 8 <= o1; o += 8) {
                const float *at = in + o * rows;
                store_transposed8(_mm256_loadu_ps(at), _mm256_loadu_ps(at + rows), _mm256_loadu_ps(at + 2 * rows),
                                  _mm256_loadu_ps(at + 3 * rows), _mm256_loadu_ps(at + 4 * rows), _mm256_loadu_ps(at + 5 * rows),
                                  _mm256_loadu_ps(at + 6 * rows), _mm256_loadu_ps(at + 7 * rows), out + o, stride);
            }
            for (; o < o1; o++) {
                for (size_t k = 0; k < 8; k++) out[k * stride + o] = in[o * rows + k];
            }
        }
    }
    return g;
}

// Result rows hold channels [c_begin, c_end) of every group: j = c * groups + g for j in [j_begin, j_end),
// written at result + (o - o_begin) * stride + (j - j_begin).
__attribute__((target("avx2"))) static void interleaved_transpose32_avx2(
    const float *source, float *result, size_t stride, size_t groups, size_t channels, size_t columns, size_t j_begin,
    size_t j_end, size_t o_begin, size_t o_end) {
    for (size_t o0 = o_begin; o0 < o_end; o0 += AVX_TILE_O) {
        const size_t o1 = o0 + AVX_TILE_O < o_end ? o0 + AVX_TILE_O : o_end;
        size_t j0 = j_begin;
        for (; j0 + 16 <= j_end; j0 += 16) {
            const float *r[16];
            for (size_t k = 0; k < 16; k++) r[k] = source_row(source, j0 + k, groups, channels, columns);
            size_t o = o0;
            for (; o + 8 <= o1; o += 8) {
                float *out = result + (o - o_begin) * stride + (j0 - j_begin);
                store_transposed8(_mm256_loadu_ps(r[0] + o), _mm256_loadu_ps(r[1] + o), _mm256_loadu_ps(r[2] + o),
                                  _mm256_loadu_ps(r[3] + o), _mm256_loadu_ps(r[4] + o), _mm256_loadu_ps(r[5] + o),
                                  _mm256_loadu_ps(r[6] + o), _mm256_loadu_ps(r[7] + o), out, stride);
                store_transposed8(_mm256_loadu_ps(r[8] + o), _mm256_loadu_ps(r[9] + o), _mm256_loadu_ps(r[10] + o),
                                  _mm256_loadu_ps(r[11] + o), _mm256_loadu_ps(r[12] + o), _mm256_loadu_ps(r[13] + o),
                                  _mm256_loadu_ps(r[14] + o), _mm256_loadu_ps(r[15] + o), out + 8, stride);
            }
            for (; o < o1; o++) {
                float *out = result + (o - o_begin) * stride + (j0 - j_begin);
                for (size_t k = 0; k < 16; k++) out[k] = r[k][o];
            }
        }
        for (; j0 < j_end; j0++) {
            const float *in = source_row(source, j0, groups, channels, columns);
            for (size_t o = o0; o < o1; o++) result[(o - o_begin) * stride + (j0 - j_begin)] = in[o];
        }
    }
}
#endif

void CKernels_interleaved_transpose32(const float *source, float *result, size_t groups, size_t channels,
                                      size_t columns, size_t o_begin, size_t o_end) {
    CKernels_interleaved_transpose_channels32(source, result, groups * channels, groups, channels, columns, 0, channels,
                                              o_begin, o_end);
}

void CKernels_interleaved_transpose_channels32(const float *source, float *result, size_t stride, size_t groups,
                                               size_t channels, size_t columns, size_t c_begin, size_t c_end,
                                               size_t o_begin, size_t o_end) {
    const size_t j_begin = c_begin * groups, j_end = c_end * groups;
#if defined(__x86_64__) || defined(__i386__)
    if (CKernels_uses_avx2()) {
        interleaved_transpose32_avx2(source, result, stride, groups, channels, columns, j_begin, j_end, o_begin, o_end);
        return;
    }
#endif
    for (size_t o0 = o_begin; o0 < o_end; o0 += TILE_O) {
        const size_t o1 = o0 + TILE_O < o_end ? o0 + TILE_O : o_end;
        for (size_t j0 = j_begin; j0 < j_end; j0 += TILE_J) {
            const size_t j1 = j0 + TILE_J < j_end ? j0 + TILE_J : j_end;
            const float *runs[TILE_J];
            for (size_t j = j0; j < j1; j++) runs[j - j0] = source_row(source, j, groups, channels, columns) + o0;
            for (size_t j = j1; j < j1 + TILE_J && j < j_end; j++) {
                const char *next = (const char *)(source_row(source, j, groups, channels, columns) + o0);
                for (size_t b = 0; b < (o1 - o0) * sizeof(float); b += 64) __builtin_prefetch(next + b, 0, 0);
            }
            size_t o = o0;
#if defined(__SSE2__)
            if (j1 - j0 == TILE_J) {
                for (; o + 4 <= o1; o += 4) {
                    float *out = result + (o - o_begin) * stride + (j0 - j_begin);
                    for (size_t q = 0; q < TILE_J; q += 4) {
                        __m128 a = _mm_loadu_ps(runs[q] + (o - o0)), b = _mm_loadu_ps(runs[q + 1] + (o - o0));
                        __m128 c = _mm_loadu_ps(runs[q + 2] + (o - o0)), d = _mm_loadu_ps(runs[q + 3] + (o - o0));
                        _MM_TRANSPOSE4_PS(a, b, c, d);
                        _mm_storeu_ps(out + q, a);
                        _mm_storeu_ps(out + stride + q, b);
                        _mm_storeu_ps(out + 2 * stride + q, c);
                        _mm_storeu_ps(out + 3 * stride + q, d);
                    }
                }
            }
#endif
            for (; o < o1; o++) {
                float *out = result + (o - o_begin) * stride + (j0 - j_begin);
                for (size_t j = j0; j < j1; j++) out[j - j0] = runs[j - j0][o - o0];
            }
        }
    }
}

// The inverse: result[g * channels + c][o] = source[o][c * groups + g] for result rows [r_begin, r_end).
// Within one tile of 64 result columns (o) and 16 channels, every group g the rows need is visited
// while that tile's source runs (o, c * groups + g0 … g1) are in cache, so each source line is fetched
// once per call instead of once per group.
void CKernels_deinterleave_transpose32(const float *source, float *result, size_t groups, size_t channels,
                                       size_t columns, size_t r_begin, size_t r_end) {
    const size_t rows = groups * channels;
    if (r_begin >= r_end) return;
    const size_t g_first = r_begin / channels, g_last = (r_end - 1) / channels;
    for (size_t o0 = 0; o0 < columns; o0 += TILE_O) {
        const size_t o1 = o0 + TILE_O < columns ? o0 + TILE_O : columns;
        for (size_t c0 = 0; c0 < channels; c0 += TILE_J) {
            const size_t c1 = c0 + TILE_J < channels ? c0 + TILE_J : channels;
            for (size_t g = g_first; g <= g_last; g++) {
                size_t lo = g * channels + c0, hi = g * channels + c1;
                if (lo < r_begin) lo = r_begin;
                if (hi > r_end) hi = r_end;
                for (size_t r = lo; r < hi; r++) {
                    const size_t c = r - g * channels;
                    const float *in = source + o0 * rows + c * groups + g;
                    float *out = result + (r - r_begin) * columns + o0;
                    for (size_t o = 0; o < o1 - o0; o++) out[o] = in[o * rows];
                }
            }
        }
    }
}

// The inverse again, produced by channel instead of by result row: for c in [c_begin, c_end) (within a
// block of `block_count` channels starting at `block_first`) and every group g, result row
// (g * block_count + c - block_first) = source[o][c * groups + g] over all o. Each tile reads a
// contiguous run of groups x 16 channels from every source row, so a source line is fetched once however
// many groups share it (fc1: 49 positions per channel), where row blocks would fetch it once per block.
void CKernels_deinterleave_channels32(const float *source, float *result, size_t groups, size_t channels,
                                      size_t columns, size_t block_first, size_t block_count, size_t c_begin,
                                      size_t c_end) {
    const size_t rows = groups * channels;
    for (size_t o0 = 0; o0 < columns; o0 += TILE_O) {
        const size_t o1 = o0 + TILE_O < columns ? o0 + TILE_O : columns;
        for (size_t c0 = c_begin; c0 < c_end; c0 += TILE_J) {
            const size_t c1 = c0 + TILE_J < c_end ? c0 + TILE_J : c_end;
            size_t g = 0;
#if defined(__x86_64__) || defined(__i386__)
            if (CKernels_uses_avx2()) {
                g = deinterleave_channels_tile_avx2(source, result, groups, rows, columns, block_first, block_count, c0, c1, o0, o1);
            }
#endif
#if defined(__SSE2__)
            // Four groups of one channel are four adjacent source values: 4x4 blocks (4 columns o by 4
            // groups) are loaded as rows, transposed in registers and stored as runs of 4 columns.
            for (; g + 4 <= groups; g += 4) {
                for (size_t c = c0; c < c1; c++) {
                    const float *in = source + c * groups + g;
                    float *out = result + (g * block_count + (c - block_first)) * columns;
                    const size_t stride = block_count * columns;
                    size_t o = o0;
                    for (; o + 4 <= o1; o += 4) {
                        __m128 a = _mm_loadu_ps(in + o * rows), b = _mm_loadu_ps(in + (o + 1) * rows);
                        __m128 e = _mm_loadu_ps(in + (o + 2) * rows), d = _mm_loadu_ps(in + (o + 3) * rows);
                        _MM_TRANSPOSE4_PS(a, b, e, d);
                        _mm_storeu_ps(out + o, a);
                        _mm_storeu_ps(out + stride + o, b);
                        _mm_storeu_ps(out + 2 * stride + o, e);
                        _mm_storeu_ps(out + 3 * stride + o, d);
                    }
                    for (; o < o1; o++) {
                        for (size_t k = 0; k < 4; k++) out[k * stride + o] = in[o * rows + k];
                    }
                }
            }
#endif
            for (; g < groups; g++) {
                for (size_t c = c0; c < c1; c++) {
                    const float *in = source + o0 * rows + c * groups + g;
                    float *out = result + (g * block_count + (c - block_first)) * columns + o0;
                    for (size_t o = 0; o < o1 - o0; o++) out[o] = in[o * rows];
                }
            }
        }
    }
}

// Comparison statistics of two float arrays in eight independent lanes (so the compiler vectorises the
// loop without reassociating a reduction): max |a - b|, max |b|, and the float sums of a*b, a*a, b*b.
// A NaN or infinity shows in the sums; the caller redoes such a stretch value by value.
void CKernels_compare_stats(const float *a, const float *b, size_t n, float *max_difference, float *max_b,
                            float *dot, float *norm_a, float *norm_b) {
    float mx[8] = {0}, rg[8] = {0}, d[8] = {0}, na[8] = {0}, nb[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; k++) {
            float p = a[i + k], q = b[i + k], e = p - q;
            e = e < 0 ? -e : e;
            float m = q < 0 ? -q : q;
            mx[k] = e > mx[k] ? e : mx[k];
            rg[k] = m > rg[k] ? m : rg[k];
            d[k] += p * q;
            na[k] += p * p;
            nb[k] += q * q;
        }
    }
    for (; i < n; i++) {
        float p = a[i], q = b[i], e = p - q;
        e = e < 0 ? -e : e;
        float m = q < 0 ? -q : q;
        mx[0] = e > mx[0] ? e : mx[0];
        rg[0] = m > rg[0] ? m : rg[0];
        d[0] += p * q;
        na[0] += p * p;
        nb[0] += q * q;
    }
    float sx = 0, sr = 0, sd = 0, sa = 0, sb = 0;
    for (int k = 0; k < 8; k++) {
        sx = mx[k] > sx ? mx[k] : sx;
        sr = rg[k] > sr ? rg[k] : sr;
        sd += d[k];
        sa += na[k];
        sb += nb[k];
    }
    *max_difference = sx;
    *max_b = sr;
    *dot = sd;
    *norm_a = sa;
    *norm_b = sb;
}
