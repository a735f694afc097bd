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
