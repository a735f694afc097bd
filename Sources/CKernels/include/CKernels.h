// Why this target exists: Swift has no software-prefetch, SIMD-shuffle or per-function target
// intrinsics. The loop that dominates a VGG16 conversion (transposing the 411 MB fc1 kernel) is bound
// by memory latency that prefetching hides, and the inference kernels (Winograd transforms and FMA
// micro-kernel, the direct first-layer convolution) need shuffles, register-resident accumulators and
// an AVX2 build chosen at run time. The functions here take plain pointers and sizes; callers in
// VGGCore and Inference check every size before calling and never expose these pointers.
#ifndef CKERNELS_H
#define CKERNELS_H
#include <stddef.h>
#include <stdint.h>

/// result[(o - o_begin) * rows + c * groups + g] = source[(g * channels + c) * columns + o]
/// for o in [o_begin, o_end), where rows = groups * channels; 4-byte elements.
void CKernels_interleaved_transpose32(const float *source, float *result, size_t groups, size_t channels,
                                      size_t columns, size_t o_begin, size_t o_end);

/// The same for channels [c_begin, c_end) only, into rows `stride` elements apart:
/// result[(o - o_begin) * stride + (c - c_begin) * groups + g] = source[(g * channels + c) * columns + o].
void CKernels_interleaved_transpose_channels32(const float *source, float *result, size_t stride, size_t groups,
                                               size_t channels, size_t columns, size_t c_begin, size_t c_end,
                                               size_t o_begin, size_t o_end);

/// The inverse of CKernels_interleaved_transpose32: result[(r - r_begin) * columns + o] =
/// source[o * rows + c * groups + g] for result rows r = g * channels + c in [r_begin, r_end).
void CKernels_deinterleave_transpose32(const float *source, float *result, size_t groups, size_t channels,
                                       size_t columns, size_t r_begin, size_t r_end);

/// The same inverse by channel: for c in [c_begin, c_end) and every group g, writes
/// result[(g * block_count + c - block_first) * columns + o] = source[o * rows + c * groups + g].
void CKernels_deinterleave_channels32(const float *source, float *result, size_t groups, size_t channels,
                                      size_t columns, size_t block_first, size_t block_count, size_t c_begin,
                                      size_t c_end);

/// max |a - b|, max |b| and the sums of a*b, a*a, b*b over n values (float precision: callers pass
/// chunks of a few thousand values and add the sums in double). Non-finite values make the sums non-finite.
void CKernels_compare_stats(const float *a, const float *b, size_t n, float *max_difference, float *max_b,
                            float *dot, float *norm_a, float *norm_b);

/// Keys of `CKernels_position_hash32`: odd multipliers and offsets, two independent hashes.
typedef struct {
    uint32_t multiplier[2], offset[2];
} CKernels_hash_keys;

/// Adds to `sums` a keyed hash of `count` float32 values whose canonical positions (below 2^32) are
/// first, first + stride, ...: the sum of a per-element mix of (bits, position), so a tensor read in any
/// storage order, run by run, sums to the same value, and two tensors with different bits at some
/// position almost never do. Sets *non_finite when a value is NaN or infinite.
void CKernels_position_hash32(const float *values, size_t count, uint32_t first, uint32_t stride,
                              const CKernels_hash_keys *keys, uint32_t sums[2], uint32_t *non_finite);

// Winograd F(4x4, 3x3) with the sqrt(2) interpolation points (ncnn's "f43" coefficients since 2023,
// about 2x more accurate than the (0, +-1, +-2) points): Y = A^T [(G g G^T) . (B^T d B)] A on 6x6 input
// tiles that advance by 4 over a 'same'-padded (pad 1) input; tile t = (n * tiles_h + ty) * tiles_w + tx
// over N images stored one after another (input N x C x H x W, output N x K x H x W). A block of `count`
// tiles starting at `first`, which may span images, is transformed into V, multiplied into M and
// transformed back: batching small maps lets every panel of U serve the tiles of several images.
// Sizes: U has CKernels_winograd43_packed_count(K, C) floats; for a block, with width8 = count rounded up
// to 8 and Kp = K rounded up to CKERNELS_WINOGRAD_PANEL_ROWS, V has 36 * C * width8 floats and M
// 36 * Kp * width8.
// Every stage has an AVX2 + FMA variant (see CKernels_uses_avx2).

/// Output channels per panel of the multiply stage.
#define CKERNELS_WINOGRAD_PANEL_ROWS 6
/// Tiles per panel of the multiply stage (a tile range handed to a core starts on a multiple of it).
#define CKERNELS_WINOGRAD_PANEL_COLUMNS 16

/// Floats of the packed transformed kernel.
size_t CKernels_winograd43_packed_count(size_t K, size_t C);

/// U = G g G^T for every (k, c) of the (K, C, 3, 3) weights, packed for the multiply stage: the output
/// channels of panels [p0, p1) (CKERNELS_WINOGRAD_PANEL_ROWS channels each; rows past K are zeros).
void CKernels_winograd43_weights(const float *weights, size_t K, size_t C, size_t p0, size_t p1, float *U);

/// Input transform of input channels [c0, c1) of the N x C x H x W input, for the block's tiles.
void CKernels_winograd43_input(const float *input, size_t C, size_t H, size_t W, size_t first, size_t count,
                               size_t c0, size_t c1, float *V);

/// M = U V for the output channels of panels [p0, p1) and the block's tiles [t0, t1), all 36 coordinates;
/// t0 is a multiple of 16.
void CKernels_winograd43_multiply(const float *U, const float *V, size_t K, size_t C, size_t count, size_t p0, size_t p1,
                                  size_t t0, size_t t1, float *M);

/// Output transform of the block's tiles [t0, t1) (t0 a multiple of 16) and output channels [k0, k1) into the
/// N x K x H x W output, adding bias and applying ReLU when relu != 0; when pool != 0, max-pooled 2 x 2 /
/// stride 2 ('valid') into N x K x H/2 x W/2 instead.
void CKernels_winograd43_output(const float *M, size_t K, size_t H, size_t W, size_t first, size_t count,
                                size_t t0, size_t t1, size_t k0, size_t k1, const float *bias, int relu, int pool, float *output);

/// 1 when the AVX2 + FMA variants (or the AVX-512 ones, which need them) run: the CPU has both and
/// VGGCONV_SIMD is not "generic".
int CKernels_uses_avx2(void);

/// The kernel variants that run: 2 AVX-512 (F/BW/VL/DQ), 1 AVX2 + FMA + F16C, 0 the portable build. Chosen
/// once from CPUID; VGGCONV_SIMD=avx2 or generic picks a lower level, never one the CPU lacks.
int CKernels_simd_level(void);

/// "avx512", "avx2" or "generic": CKernels_simd_level as a name.
const char *CKernels_simd_name(void);

// Direct 3x3, stride-1, 'same' convolution for few input channels (VGG's first layer), bias and ReLU fused.

/// Floats of the packed weights: (K rounded up to 4) * C * 9.
size_t CKernels_conv3x3_packed_count(size_t K, size_t C);

/// Packs (K, C, 3, 3) weights in panels of 4 output channels.
void CKernels_conv3x3_pack(const float *weights, size_t K, size_t C, float *packed);

/// Floats of the zero-bordered copy of a C x H x W input.
size_t CKernels_conv3x3_padded_count(size_t C, size_t H, size_t W);

/// Copies the input into the zero-bordered buffer the row stage reads.
void CKernels_conv3x3_pad(const float *input, size_t C, size_t H, size_t W, float *padded);

/// Output rows [y0, y1) of all K channels of the K x H x W output.
void CKernels_conv3x3_rows(const float *padded, size_t C, size_t H, size_t W, const float *packed, size_t K,
                           const float *bias, int relu, size_t y0, size_t y1, float *output);

/// Largest batch CKernels_dense_small_batch takes.
#define CKERNELS_DENSE_MAX_BATCH 8

/// Y[n * ldy + u] = sum over i of X[n * inputs + i] * W[u * inputs + i] for units [u0, u1) and
/// 1 <= batch <= CKERNELS_DENSE_MAX_BATCH samples, reading each weight once (no packing).
void CKernels_dense_small_batch(const float *x, size_t batch, size_t inputs, const float *w, size_t u0, size_t u1,
                                float *y, size_t ldy);

/// The same with W stored as IEEE 754 half-precision bits (a float16 model used as stored: half the
/// memory traffic of widened weights), widened in registers (F16C where the CPU has AVX2).
void CKernels_dense_small_batch_f16(const float *x, size_t batch, size_t inputs, const uint16_t *w, size_t u0, size_t u1,
                                    float *y, size_t ldy);

/// One IEEE 754 half-precision value (bits) as float32, exactly (subnormals, infinities and NaNs included).
float CKernels_half_to_float(uint16_t bits);

/// `count` half-precision values widened to float32.
void CKernels_widen_halves(const uint16_t *halves, size_t count, float *floats);
#endif
