#include "CKernels.h"
#include "simd.h"

#define DENSE_MAX_BATCH CKERNELS_DENSE_MAX_BATCH

#define SIMD_BODY "dense_body.h"
#include "simd_variants.h"

void CKernels_dense_small_batch(const float *x, size_t batch, size_t inputs, const float *w, size_t u0, size_t u1,
                                float *y, size_t ldy) {
    DISPATCH(dense_rows, x, batch, inputs, w, u0, u1, y, ldy);
}
