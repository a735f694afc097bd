// Dense layers on small batches, compiled by dense.c once per instruction set (see simd.h). Not a public
// header. Y = X · Wᵀ with W streamed from memory exactly once: the inputs are taken in chunks whose
// slice of X stays in L2, and each weight row's chunk is multiplied with every sample at once. W is
// float32 (`half` 0) or half-precision bits (`half` 1, widened in registers: half the bytes to stream).

#define DENSE_CHUNK 4096

// Weights [index, index + 8) as float32 into *out; `half` is a constant where this is inlined.
static inline __attribute__((always_inline)) WG_TARGET void WG(weights8)(const void *w, size_t index, int half, v8 *out) {
    if (half) WG(widen8)((const uint16_t *)w + index, out);
    else memcpy(out, (const float *)w + index, sizeof *out);
}

static inline __attribute__((always_inline)) float WG(weight)(const void *w, size_t index, int half) {
    return half ? CKernels_half_to_float(((const uint16_t *)w)[index]) : ((const float *)w)[index];
}

// Inlined with a constant batch and weight type so that the accumulators live in registers.
static inline __attribute__((always_inline)) WG_TARGET void WG(dense_rows_fixed)(const float *x, const size_t batch, size_t inputs,
                                                                                 const void *w, const int half, size_t u0,
                                                                                 size_t u1, float *y, size_t ldy) {
    const size_t weight_bytes = half ? 2 : 4;
    for (size_t n = 0; n < batch; n++)
        for (size_t u = u0; u < u1; u++) y[n * ldy + u] = 0;
    // One sample's inputs stay in L2 whole: rows are then streamed end to end (pieces of rows far apart
    // defeat the hardware prefetcher: half-precision fc1 ran at half the memory bandwidth in 8 KB pieces).
    const size_t chunk = batch == 1 ? inputs : DENSE_CHUNK;
    for (size_t i0 = 0; i0 < inputs; i0 += chunk) {
        const size_t i1 = inputs - i0 < chunk ? inputs : i0 + chunk;
        const size_t vector_end = i0 + (i1 - i0) / 8 * 8;
        for (size_t u = u0; u < u1; u++) {
            const size_t row = u * inputs;
            // Fetched one row ahead (a chunk's rows are far apart), a 64-byte line at a time; the batch-1 loop
            // below streams whole rows and leaves them to the hardware prefetcher (measured no slower).
            const char *next = (const char *)w + (u + 1 < u1 ? row + inputs : row) * weight_bytes;
            v8 acc[DENSE_MAX_BATCH], acc2[DENSE_MAX_BATCH];
            for (size_t n = 0; n < batch; n++) acc[n] = acc2[n] = (v8){0, 0, 0, 0, 0, 0, 0, 0};
            size_t i = i0;
            if (batch == 1) {  // four chains: one sample is not bound by the FMA latency
                v8 acc3 = acc[0], acc4 = acc[0];
                for (; i + 32 <= vector_end; i += 32) {
                    v8 values[4], weights[4];
                    memcpy(values, x + i, sizeof values);
                    for (int k = 0; k < 4; k++) WG(weights8)(w, row + i + 8 * k, half, &weights[k]);
                    acc[0] += weights[0] * values[0];
                    acc2[0] += weights[1] * values[1];
                    acc3 += weights[2] * values[2];
                    acc4 += weights[3] * values[3];
                }
                acc[0] += acc3;
                acc2[0] += acc4;
            }
            for (; i < vector_end; i += 8) {
                if ((i * weight_bytes & 63) == 0) __builtin_prefetch(next + i * weight_bytes);
                v8 weights;
                WG(weights8)(w, row + i, half, &weights);
                for (size_t n = 0; n < batch; n++) {
                    v8 values;
                    memcpy(&values, x + n * inputs + i, sizeof values);
                    acc[n] += weights * values;
                }
            }
            for (size_t n = 0; n < batch; n++) {
                const v8 total = acc[n] + acc2[n];
                float sum = 0;
                for (int lane = 0; lane < 8; lane++) sum += total[lane];
                for (size_t j = vector_end; j < i1; j++) sum += WG(weight)(w, row + j, half) * x[n * inputs + j];
                y[n * ldy + u] += sum;
            }
        }
    }
}

#define DENSE_BATCHES(half)                                                                  \
    switch (batch) {                                                                         \
    case 1: WG(dense_rows_fixed)(x, 1, inputs, w, half, u0, u1, y, ldy); break;              \
    case 2: WG(dense_rows_fixed)(x, 2, inputs, w, half, u0, u1, y, ldy); break;              \
    case 3: WG(dense_rows_fixed)(x, 3, inputs, w, half, u0, u1, y, ldy); break;              \
    case 4: WG(dense_rows_fixed)(x, 4, inputs, w, half, u0, u1, y, ldy); break;              \
    case 5: WG(dense_rows_fixed)(x, 5, inputs, w, half, u0, u1, y, ldy); break;              \
    case 6: WG(dense_rows_fixed)(x, 6, inputs, w, half, u0, u1, y, ldy); break;              \
    case 7: WG(dense_rows_fixed)(x, 7, inputs, w, half, u0, u1, y, ldy); break;              \
    default: WG(dense_rows_fixed)(x, 8, inputs, w, half, u0, u1, y, ldy); break;             \
    }

static WG_TARGET void WG(dense_rows)(const float *x, size_t batch, size_t inputs, const void *w, int half, size_t u0, size_t u1,
                                     float *y, size_t ldy) {
    if (half) {
        DENSE_BATCHES(1)
    } else {
        DENSE_BATCHES(0)
    }
}
#undef DENSE_BATCHES

static WG_TARGET void WG(widen)(const uint16_t *halves, size_t count, float *floats) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        v8 f;
        WG(widen8)(halves + i, &f);
        memcpy(floats + i, &f, sizeof f);
    }
    for (; i < count; i++) floats[i] = CKernels_half_to_float(halves[i]);
}
