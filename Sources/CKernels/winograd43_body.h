// The Winograd F(4x4, 3x3) stages, written once and compiled by winograd43.c once per instruction set:
// WG(name) names this variant's functions and WG_TARGET is its target attribute. Not a public header.
//
// Block layouts (count tiles, padded to width8 = a multiple of 8; Kp = K padded to PANEL_ROWS):
//   U[xi][p][c][PANEL_ROWS]  packed at load: panels of output channels, zero rows past K
//   V[xi][panel][c][pw]      tiles in panels of PANEL_COLUMNS (the last one may be 8 wide), pw = its width
//   M[xi][k][width8]        the products, row-major per coordinate
//
// The transforms work on WIDE tiles at a time, one per vector lane: 16 (a 512-bit vector) in the AVX-512
// variant, else 8. Each lane's arithmetic is the same in every variant, so the outputs are too.

#ifdef WG_AVX512
#define WIDE 16
typedef v16 WG(vw);
#define LOW8(x) __builtin_shufflevector((x), (x), 0, 1, 2, 3, 4, 5, 6, 7)
#define HIGH8(x) __builtin_shufflevector((x), (x), 8, 9, 10, 11, 12, 13, 14, 15)
#define CONCAT8(a, b) __builtin_shufflevector((a), (b), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#else
#define WIDE 8
typedef v8 WG(vw);
#endif
#define VW WG(vw)

static inline WG_TARGET v4 WG(load4)(const float *p) { v4 r; memcpy(&r, p, sizeof r); return r; }

static inline WG_TARGET v4 WG(load2x2)(const float *p, const float *q) {
    v2 a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, q, sizeof b);
    return __builtin_shufflevector(a, b, 0, 1, 2, 3);
}

// G g for 8 lanes' 3-vectors g -> 6 values each.
static inline WG_TARGET void WG(g3)(const v8 g[3], v8 y[6]) {
    const v8 g0 = g[0], g1 = g[1], g2 = g[2];
    y[0] = g0;
    y[1] = -2.0f / 3 * g0 - S2 / 3 * g1 - 1.0f / 3 * g2;
    y[2] = -2.0f / 3 * g0 + S2 / 3 * g1 - 1.0f / 3 * g2;
    y[3] = 1.0f / 6 * g0 + S2 / 6 * g1 + 1.0f / 3 * g2;
    y[4] = 1.0f / 6 * g0 - S2 / 6 * g1 + 1.0f / 3 * g2;
    y[5] = g2;
}

// U = G g G^T for output channels of panels [p0, p1), 8 input channels at a time (one per lane).
static WG_TARGET void WG(weights)(const float *weights, size_t K, size_t C, size_t p0, size_t p1, float *U) {
    const size_t Kp = ROUND_UP(K, PANEL_ROWS);
    for (size_t k = p0 * PANEL_ROWS; k < p1 * PANEL_ROWS && k < Kp; k++) {
        float *panel = U + (k / PANEL_ROWS) * PANEL_ROWS * C + k % PANEL_ROWS;  // (xi, c) at xi * Kp * C + c * PANEL_ROWS
        for (size_t c = 0; c < C; c += 8) {
            const size_t lanes = C - c < 8 ? C - c : 8;
            float g[9][8] = {{0}};  // g[t][q]: tap t of channel c + q (rows past K stay zero)
            if (k < K)
                for (size_t q = 0; q < lanes; q++)
                    for (int t = 0; t < 9; t++) g[t][q] = weights[(k * C + c + q) * 9 + t];
            v8 taps[9], t[6][3], u[6][6];
            for (int i = 0; i < 9; i++) memcpy(&taps[i], g[i], sizeof taps[i]);
            for (int j = 0; j < 3; j++) {  // G applied to each column of g
                const v8 tap[3] = {taps[j], taps[3 + j], taps[6 + j]};
                v8 column[6];
                WG(g3)(tap, column);
                for (int i = 0; i < 6; i++) t[i][j] = column[i];
            }
            for (int i = 0; i < 6; i++) WG(g3)(t[i], u[i]);  // then to each row: (G g) G^T
            for (int xi = 0; xi < 36; xi++) {
                float values[8];
                memcpy(values, &u[xi / 6][xi % 6], sizeof values);
                float *dst = panel + (size_t)xi * Kp * C + c * PANEL_ROWS;
                for (size_t q = 0; q < lanes; q++) dst[q * PANEL_ROWS] = values[q];
            }
        }
    }
}

static inline WG_TARGET void WG(bt6)(const VW x[6], VW y[6]) {
    const VW a = x[4] - 2.0f * x[2], b = S2 * x[1] - 0.5f * S2 * x[3];
    const VW c = x[4] - 0.5f * x[2], d = 0.5f * S2 * x[1] - S2 * x[3];
    y[0] = x[0] - 2.5f * x[2] + x[4];
    y[1] = a - b;
    y[2] = a + b;
    y[3] = c - d;
    y[4] = c + d;
    y[5] = x[1] - 2.5f * x[3] + x[5];
}

static inline WG_TARGET void WG(at6)(const VW m[6], VW y[4]) {
    const VW p12 = m[1] + m[2], m12 = m[1] - m[2], p34 = m[3] + m[4], m34 = m[3] - m[4];
    y[0] = m[0] + p12 + p34;
    y[1] = 0.5f * S2 * m12 + S2 * m34;
    y[2] = 0.5f * p12 + 2.0f * p34;
    y[3] = 0.25f * S2 * m12 + 2.0f * S2 * m34 + m[5];
}

// Row i of eight 6x6 tiles, lane q from p[q][0..5]: d[j][q] = p[q][j]. Loads each lane's row as 4 + 2
// contiguous floats and transposes with shuffles instead of 48 scalar loads.
static inline WG_TARGET void WG(gather_row)(const float *const p[LANES], v8 d[6]) {
    const v8 s0 = CONCAT4(WG(load4)(p[0]), WG(load4)(p[1])), s1 = CONCAT4(WG(load4)(p[2]), WG(load4)(p[3]));
    const v8 s2 = CONCAT4(WG(load4)(p[4]), WG(load4)(p[5])), s3 = CONCAT4(WG(load4)(p[6]), WG(load4)(p[7]));
    const v8 u0 = __builtin_shufflevector(s0, s1, 0, 4, 8, 12, 1, 5, 9, 13);
    const v8 u1 = __builtin_shufflevector(s0, s1, 2, 6, 10, 14, 3, 7, 11, 15);
    const v8 u2 = __builtin_shufflevector(s2, s3, 0, 4, 8, 12, 1, 5, 9, 13);
    const v8 u3 = __builtin_shufflevector(s2, s3, 2, 6, 10, 14, 3, 7, 11, 15);
    d[0] = __builtin_shufflevector(u0, u2, 0, 1, 2, 3, 8, 9, 10, 11);
    d[1] = __builtin_shufflevector(u0, u2, 4, 5, 6, 7, 12, 13, 14, 15);
    d[2] = __builtin_shufflevector(u1, u3, 0, 1, 2, 3, 8, 9, 10, 11);
    d[3] = __builtin_shufflevector(u1, u3, 4, 5, 6, 7, 12, 13, 14, 15);
    const v8 f0 = CONCAT4(WG(load2x2)(p[0] + 4, p[1] + 4), WG(load2x2)(p[2] + 4, p[3] + 4));
    const v8 f1 = CONCAT4(WG(load2x2)(p[4] + 4, p[5] + 4), WG(load2x2)(p[6] + 4, p[7] + 4));
    d[4] = __builtin_shufflevector(f0, f1, 0, 2, 4, 6, 8, 10, 12, 14);
    d[5] = __builtin_shufflevector(f0, f1, 1, 3, 5, 7, 9, 11, 13, 15);
}

// Row i of WIDE tiles: gather_row for each 8 lanes.
static inline WG_TARGET void WG(gather_wide)(const float *const p[WIDE], VW d[6]) {
#ifdef WG_AVX512
    v8 low[6], high[6];
    WG(gather_row)(p, low);
    WG(gather_row)(p + 8, high);
    for (int j = 0; j < 6; j++) d[j] = CONCAT8(low[j], high[j]);
#else
    WG(gather_row)(p, d);
#endif
}

// The 4 values of each of 8 lanes made contiguous: w[4q + j] = x[j][q].
static inline WG_TARGET void WG(interleave4)(const v8 x[4], float *w) {
    const v8 t0 = __builtin_shufflevector(x[0], x[1], 0, 8, 1, 9, 2, 10, 3, 11);
    const v8 t1 = __builtin_shufflevector(x[0], x[1], 4, 12, 5, 13, 6, 14, 7, 15);
    const v8 t2 = __builtin_shufflevector(x[2], x[3], 0, 8, 1, 9, 2, 10, 3, 11);
    const v8 t3 = __builtin_shufflevector(x[2], x[3], 4, 12, 5, 13, 6, 14, 7, 15);
    const v8 w0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 2, 3, 10, 11);
    const v8 w1 = __builtin_shufflevector(t0, t2, 4, 5, 12, 13, 6, 7, 14, 15);
    const v8 w2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 2, 3, 10, 11);
    const v8 w3 = __builtin_shufflevector(t1, t3, 4, 5, 12, 13, 6, 7, 14, 15);
    memcpy(w, &w0, sizeof w0);
    memcpy(w + 8, &w1, sizeof w1);
    memcpy(w + 16, &w2, sizeof w2);
    memcpy(w + 24, &w3, sizeof w3);
}

// The same for 2 values per lane: w[2q + j] = x[j][q].
static inline WG_TARGET void WG(interleave2)(const v8 x[2], float *w) {
    const v8 w0 = __builtin_shufflevector(x[0], x[1], 0, 8, 1, 9, 2, 10, 3, 11);
    const v8 w1 = __builtin_shufflevector(x[0], x[1], 4, 12, 5, 13, 6, 14, 7, 15);
    memcpy(w, &w0, sizeof w0);
    memcpy(w + 8, &w1, sizeof w1);
}

// interleave4 and interleave2 over all WIDE lanes.
static inline WG_TARGET void WG(lanes4)(const VW o[4], float w[WIDE * 4]) {
#ifdef WG_AVX512
    const v8 low[4] = {LOW8(o[0]), LOW8(o[1]), LOW8(o[2]), LOW8(o[3])};
    const v8 high[4] = {HIGH8(o[0]), HIGH8(o[1]), HIGH8(o[2]), HIGH8(o[3])};
    WG(interleave4)(low, w);
    WG(interleave4)(high, w + 32);
#else
    WG(interleave4)(o, w);
#endif
}

static inline WG_TARGET void WG(lanes2)(const VW x[2], float w[WIDE * 2]) {
#ifdef WG_AVX512
    const v8 low[2] = {LOW8(x[0]), LOW8(x[1])}, high[2] = {HIGH8(x[0]), HIGH8(x[1])};
    WG(interleave2)(low, w);
    WG(interleave2)(high, w + 16);
#else
    WG(interleave2)(x, w);
#endif
}

// *r = WIDE floats from p where `available` (8 or more) are readable; lanes past them are zero.
static inline WG_TARGET void WG(load_wide)(VW *r, const float *p, size_t available) {
    const VW zero = {0};
    *r = zero;
    memcpy(r, p, available >= WIDE ? sizeof *r : 8 * sizeof(float));
}

static WG_TARGET void WG(input)(const float *input, size_t C, size_t H, size_t W, size_t first, size_t count,
                                size_t c0, size_t c1, float *V) {
    static const float zeros[8] = {0};
    const size_t tiles_w = (W + 3) / 4, per_image = (H + 3) / 4 * tiles_w, width8 = ROUND_UP(count, LANES);
    for (size_t g = 0; g < width8; g += WIDE) {
        long ys[WIDE], xs[WIDE];
        int interior[WIDE], valid[WIDE];
        const float *image[WIDE];  // each lane's image: a block may span several
        for (size_t q = 0; q < WIDE; q++) {
            const size_t t = first + g + q, local = t % per_image;
            valid[q] = g + q < count;
            image[q] = input + (valid[q] ? t / per_image : 0) * C * H * W;
            ys[q] = (long)(local / tiles_w) * 4 - 1;
            xs[q] = (long)(local % tiles_w) * 4 - 1;
            interior[q] = valid[q] && ys[q] >= 0 && xs[q] >= 0 && ys[q] + 6 <= (long)H && xs[q] + 6 <= (long)W;
        }
        const size_t panel = g / PANEL_COLUMNS;
        const size_t pw = width8 - panel * PANEL_COLUMNS < PANEL_COLUMNS ? width8 - panel * PANEL_COLUMNS : PANEL_COLUMNS;
        float *v = V + panel * PANEL_COLUMNS * C + g % PANEL_COLUMNS;
        const size_t stored = width8 - g < WIDE ? width8 - g : WIDE;  // 8 in a last, 8-wide panel
        for (size_t c = c0; c < c1; c++) {
            const size_t plane = c * H * W;
            float edge[WIDE][36];  // zero-padded copies of boundary tiles
            for (size_t q = 0; q < WIDE; q++) {
                if (interior[q] || !valid[q]) continue;
                const float *x = image[q] + plane;
                for (long i = 0; i < 6; i++)
                    for (long j = 0; j < 6; j++) {
                        const long yy = ys[q] + i, xx = xs[q] + j;
                        edge[q][i * 6 + j] = yy >= 0 && yy < (long)H && xx >= 0 && xx < (long)W ? x[yy * (long)W + xx] : 0.0f;
                    }
            }
            VW d[6][6], r[6][6];
            for (int i = 0; i < 6; i++) {
                const float *p[WIDE];
                for (size_t q = 0; q < WIDE; q++)
                    p[q] = interior[q] ? image[q] + plane + (ys[q] + i) * (long)W + xs[q] : valid[q] ? edge[q] + i * 6 : zeros;
                WG(gather_wide)(p, d[i]);
            }
            for (int j = 0; j < 6; j++) {
                VW col[6] = {d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]}, out[6];
                WG(bt6)(col, out);
                for (int i = 0; i < 6; i++) r[i][j] = out[i];
            }
            for (int i = 0; i < 6; i++) {
                VW out[6];
                WG(bt6)(r[i], out);
                for (int j = 0; j < 6; j++) {
                    float *dst = v + (size_t)(i * 6 + j) * C * width8 + c * pw;
                    if (stored == WIDE) memcpy(dst, &out[j], sizeof out[j]);
                    else memcpy(dst, &out[j], 8 * sizeof(float));
                }
            }
        }
    }
}

// M[6 rows, 8 NV columns] = sum over c of u[c][row] * v[c][column]: 6 x NV accumulators, NV loads and
// one broadcast at a time fit the 16 vector registers (named variables: clang spilled an indexed array).
#define PANEL_KERNEL(NV, LOADS, FMAS, STORES)                                                               \
    static WG_TARGET void WG(panel##NV)(const float *u, const float *v, size_t C, float *m, size_t ldm) { \
        const v8 z = {0, 0, 0, 0, 0, 0, 0, 0};                                                           \
        v8 a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z, a40 = z, a41 = z,      \
           a50 = z, a51 = z, x0, x1 = z;                                                                  \
        for (size_t c = 0; c < C; c++, u += PANEL_ROWS, v += 8 * NV) {                                    \
            LOADS                                                                                         \
            FMAS(0) FMAS(1) FMAS(2) FMAS(3) FMAS(4) FMAS(5)                                               \
        }                                                                                                 \
        STORES(0) STORES(1) STORES(2) STORES(3) STORES(4) STORES(5)                                       \
        (void)x1; (void)a01; (void)a11; (void)a21; (void)a31; (void)a41; (void)a51;                       \
    }
#define LOAD_1 memcpy(&x0, v, 32);
#define LOAD_2 LOAD_1 memcpy(&x1, v + 8, 32);
#define FMA_1(r) { const float w = u[r]; a##r##0 += w * x0; }
#define FMA_2(r) { const float w = u[r]; a##r##0 += w * x0; a##r##1 += w * x1; }
#define STORE_1(r) memcpy(m + r * ldm, &a##r##0, 32);
#define STORE_2(r) STORE_1(r) memcpy(m + r * ldm + 8, &a##r##1, 32);
PANEL_KERNEL(1, LOAD_1, FMA_1, STORE_1)
PANEL_KERNEL(2, LOAD_2, FMA_2, STORE_2)

#ifdef WG_AVX512
// The 16 columns of panel2 in one 512-bit vector: one load and six broadcast FMAs per channel (the
// broadcast folds into the FMA's memory operand), each output element summed in the same order as panel2's.
static WG_TARGET void WG(panel16)(const float *u, const float *v, size_t C, float *m, size_t ldm) {
    v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, x;
    for (size_t c = 0; c < C; c++, u += PANEL_ROWS, v += 16) {
        memcpy(&x, v, 64);
        a0 += u[0] * x; a1 += u[1] * x; a2 += u[2] * x; a3 += u[3] * x; a4 += u[4] * x; a5 += u[5] * x;
    }
    memcpy(m, &a0, 64); memcpy(m + ldm, &a1, 64); memcpy(m + 2 * ldm, &a2, 64);
    memcpy(m + 3 * ldm, &a3, 64); memcpy(m + 4 * ldm, &a4, 64); memcpy(m + 5 * ldm, &a5, 64);
}
#endif
#undef PANEL_KERNEL
#undef LOAD_1
#undef LOAD_2
#undef FMA_1
#undef FMA_2
#undef STORE_1
#undef STORE_2

static WG_TARGET void WG(multiply)(const float *U, const float *V, size_t K, size_t C, size_t count, size_t p0, size_t p1,
                                   size_t t0, size_t t1, float *M) {
    const size_t Kp = ROUND_UP(K, PANEL_ROWS), width8 = ROUND_UP(count, LANES), end = ROUND_UP(t1, LANES);
    for (size_t xi = 0; xi < 36; xi++) {
        const float *u_xi = U + xi * Kp * C, *v_xi = V + xi * C * width8;
        float *m_xi = M + xi * Kp * width8;
        for (size_t p = p0; p < p1; p++) {
            const float *u = u_xi + p * PANEL_ROWS * C;
            float *m = m_xi + p * PANEL_ROWS * width8;
            for (size_t col = t0; col < end; col += PANEL_COLUMNS) {
                const float *v = v_xi + col * C;
#ifdef WG_AVX512
                if (end - col >= PANEL_COLUMNS) WG(panel16)(u, v, C, m + col, width8);
#else
                if (end - col >= PANEL_COLUMNS) WG(panel2)(u, v, C, m + col, width8);
#endif
                else WG(panel1)(u, v, C, m + col, width8);
            }
        }
    }
}

// Each lane's pooled 2 x 2 (the maxima of o's 2 x 2 quads) into its image's (H/2) x (W/2) plane k: a tile's
// 4 x 4 outputs start at even rows and columns, so its quads are whole pooling windows; a window cut by the
// edge of an odd-sized map is dropped, as a 'valid' 2 x 2 / stride 2 max pool drops it.
static inline WG_TARGET void WG(store_pooled)(VW o[4][4], float *const image[WIDE], const size_t ty[WIDE],
                                              const size_t tx[WIDE], size_t lanes, size_t k, size_t H, size_t W) {
    const size_t Hp = H / 2, Wp = W / 2;
    for (int a = 0; a < 2; a++) {
        const VW pair[2] = {  // the maxima of the left and the right quad
            __builtin_elementwise_max(__builtin_elementwise_max(o[2 * a][0], o[2 * a][1]),
                                      __builtin_elementwise_max(o[2 * a + 1][0], o[2 * a + 1][1])),
            __builtin_elementwise_max(__builtin_elementwise_max(o[2 * a][2], o[2 * a][3]),
                                      __builtin_elementwise_max(o[2 * a + 1][2], o[2 * a + 1][3]))};
        float w[WIDE * 2];  // lane q's pair at w[2q]
        WG(lanes2)(pair, w);
        for (size_t q = 0; q < lanes; q++) {
            const size_t y = ty[q] / 2 + a, x = tx[q] / 2;
            if (y >= Hp || x >= Wp) continue;
            float *dst = image[q] + (k * Hp + y) * Wp + x;
            dst[0] = w[2 * q];
            if (x + 1 < Wp) dst[1] = w[2 * q + 1];
        }
    }
}

static WG_TARGET void WG(output)(const float *M, size_t K, size_t H, size_t W, size_t first, size_t count, size_t t0,
                                 size_t t1, size_t k0, size_t k1, const float *bias, int relu, int pool, float *output) {
    const size_t tiles_w = (W + 3) / 4, per_image = (H + 3) / 4 * tiles_w;
    const size_t out_plane = pool ? (H / 2) * (W / 2) : H * W;
    const size_t width8 = ROUND_UP(count, LANES), plane = ROUND_UP(K, PANEL_ROWS) * width8;
    for (size_t g = t0; g < t1; g += WIDE) {
        size_t ty[WIDE], tx[WIDE];
        float *image[WIDE];
        const size_t lanes = t1 - g < WIDE ? t1 - g : WIDE;
        for (size_t q = 0; q < lanes; q++) {
            const size_t t = first + g + q, local = t % per_image;
            image[q] = output + t / per_image * K * out_plane;
            ty[q] = local / tiles_w * 4;
            tx[q] = local % tiles_w * 4;
        }
        for (size_t k = k0; k < k1; k++) {
            const VW zero = {0}, b = zero + (bias ? bias[k] : 0.0f);
            const float *m = M + k * width8 + g;
            VW mm[6][6], r[4][6], o[4][4];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) WG(load_wide)(&mm[i][j], m + (size_t)(i * 6 + j) * plane, width8 - g);
            for (int j = 0; j < 6; j++) {
                VW col[6] = {mm[0][j], mm[1][j], mm[2][j], mm[3][j], mm[4][j], mm[5][j]}, out[4];
                WG(at6)(col, out);
                for (int i = 0; i < 4; i++) r[i][j] = out[i];
            }
            for (int i = 0; i < 4; i++) {
                WG(at6)(r[i], o[i]);
                for (int j = 0; j < 4; j++) {
                    o[i][j] += b;
                    if (relu) o[i][j] = __builtin_elementwise_max(o[i][j], zero);
                }
            }
            if (pool) {
                WG(store_pooled)(o, image, ty, tx, lanes, k, H, W);
                continue;
            }
            for (int i = 0; i < 4; i++) {
                float w[WIDE * 4];  // each lane's 4 outputs of row i, contiguous
                WG(lanes4)(o[i], w);
                for (size_t q = 0; q < lanes; q++) {
                    if (ty[q] + i >= H) continue;
                    float *dst = image[q] + k * H * W + (ty[q] + i) * W + tx[q];
                    if (tx[q] + 4 <= W) {
                        memcpy(dst, w + q * 4, 4 * sizeof(float));
                    } else {  // 1 to 3 columns; not a loop, which clang would merge with the line above into a memmove call
                        dst[0] = w[q * 4];
                        if (tx[q] + 1 < W) dst[1] = w[q * 4 + 1];
                        if (tx[q] + 2 < W) dst[2] = w[q * 4 + 2];
                    }
                }
            }
        }
    }
}

#undef WIDE
#undef VW
#ifdef WG_AVX512
#undef LOW8
#undef HIGH8
#undef CONCAT8
#endif
