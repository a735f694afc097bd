// Dense layers on small batches, compiled by dense.c once per instruction set (see simd.h). Not a public
// header. Y = X · Wᵀ with W streamed from memory exactly once: the inputs are taken in chunks whose
// slice of X stays in L2, and each weight row's chunk is multiplied with every sample at once.

#define DENSE_CHUNK 4096

// Inlined with a constant batch so that the accumulators live in registers.
static inline __attribute__((always_inline)) WG_TARGET void WG(dense_rows_fixed)(const float *x, const size_t batch, size_t inputs,
                                                                                 const float *w, size_t u0, size_t u1,
                                                                                 float *y, size_t ldy) {
    for (size_t n = 0; n < batch; n++)
        for (size_t u = u0; u < u1; u++) y[n * ldy + u] = 0;
    for (size_t i0 = 0; i0 < inputs; i0 += DENSE_CHUNK) {
        const size_t i1 = inputs - i0 < DENSE_CHUNK ? inputs : i0 + DENSE_CHUNK;
        const size_t vector_end = i0 + (i1 - i0) / 8 * 8;
        for (size_t u = u0; u < u1; u++) {
            const float *row = w + u * inputs;
            v8 acc[DENSE_MAX_BATCH];
            for (size_t n = 0; n < batch; n++) acc[n] = (v8){0, 0, 0, 0, 0, 0, 0, 0};
            const float *next = u + 1 < u1 ? row + inputs : row;  // fetched one row ahead: rows are far apart
            for (size_t i = i0; i < vector_end; i += 8) {
                if ((i & 15) == 0) __builtin_prefetch(next + i);
                v8 weights;
                memcpy(&weights, row + i, sizeof weights);
                for (size_t n = 0; n < batch; n++) {
                    v8 values;
                    memcpy(&values, x + n * inputs + i, sizeof values);
                    acc[n] += weights * values;
                }
            }
            for (size_t n = 0; n < batch; n++) {
                float sum = 0;
                for (int lane = 0; lane < 8; lane++) sum += acc[n][lane];
                for (size_t i = vector_end; i < i1; i++) sum += row[i] * x[n * inputs + i];
                y[n * ldy + u] += sum;
            }
        }
    }
}

static WG_TARGET void WG(dense_rows)(const float *x, size_t batch, size_t inputs, const float *w, size_t u0, size_t u1,
                                     float *y, size_t ldy) {
    switch (batch) {
    case 1: WG(dense_rows_fixed)(x, 1, inputs, w, u0, u1, y, ldy); break;
    case 2: WG(dense_rows_fixed)(x, 2, inputs, w, u0, u1, y, ldy); break;
    case 3: WG(dense_rows_fixed)(x, 3, inputs, w, u0, u1, y, ldy); break;
    case 4: WG(dense_rows_fixed)(x, 4, inputs, w, u0, u1, y, ldy); break;
    case 5: WG(dense_rows_fixed)(x, 5, inputs, w, u0, u1, y, ldy); break;
    case 6: WG(dense_rows_fixed)(x, 6, inputs, w, u0, u1, y, ldy); break;
    case 7: WG(dense_rows_fixed)(x, 7, inputs, w, u0, u1, y, ldy); break;
    default: WG(dense_rows_fixed)(x, 8, inputs, w, u0, u1, y, ldy); break;
    }
}
