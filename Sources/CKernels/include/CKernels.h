// Why this target exists: Swift has no software-prefetch or SIMD-shuffle intrinsics, and the one
// loop that dominates a VGG16 conversion (transposing the 411 MB fc1 kernel) is bound by memory
// latency that prefetching hides. The functions here take plain pointers and sizes; callers in
// VGGCore check every size before calling and never expose these pointers.
#ifndef CKERNELS_H
#define CKERNELS_H
#include <stddef.h>

/// result[(o - o_begin) * rows + c * groups + g] = source[(g * channels + c) * columns + o]
/// for o in [o_begin, o_end), where rows = groups * channels; 4-byte elements.
void CKernels_interleaved_transpose32(const float *source, float *result, size_t groups, size_t channels,
                                      size_t columns, size_t o_begin, size_t o_end);
#endif

// Winograd F(4x4, 3x3) with the sqrt(2) interpolation points (ncnn's "f43" coefficients since 2023,
// about 2x more accurate than the (0, +-1, +-2) points): Y = A^T [(G g G^T) . (B^T d B)] A on 6x6 input
// tiles that advance by 4. Layouts: weights (K, C, 3, 3); U[xi][k][c] and V[xi][c][t] and M[xi][k][t]
// for the 36 transform coordinates xi, tiles t = ty * tiles_w + tx over a 'same'-padded (pad 1) input.

/// U = G g G^T for every (k, c): U[xi * K * C + k * C + c].
void CKernels_winograd43_weights(const float *weights, size_t K, size_t C, float *U);

/// V[xi * C * count + c * count + (t - first)] for tiles [first, first + count) and channels [c0, c1)
/// of the C x H x W input.
void CKernels_winograd43_input(const float *input, size_t C, size_t H, size_t W, size_t first, size_t count,
                               size_t c0, size_t c1, float *V);

/// Writes output channels [k0, k1) of tiles [first, first + count) into the K x H x W output from
/// M[xi * K * count + k * count + (t - first)], adding bias and applying ReLU when relu != 0.
void CKernels_winograd43_output(const float *M, size_t K, size_t H, size_t W, size_t first, size_t count,
                                size_t k0, size_t k1, const float *bias, int relu, float *output);
