// Shared by the kernels that are compiled once per instruction set (private to CKernels): vector types,
// and DISPATCH(name, ...), which calls name_avx512 on CPUs with AVX-512 F/BW/VL/DQ, name_avx2 on CPUs with
// AVX2 + FMA + F16C (every AVX2 CPU has it) and name_generic elsewhere (CKernels_simd_level).
// A kernel file defines its stages in a *_body.h written in terms of WG(name) and WG_TARGET, then
// includes simd_variants.h with SIMD_BODY set to that header.
#ifndef CKERNELS_SIMD_H
#define CKERNELS_SIMD_H
#include <stddef.h>
#include <string.h>

typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
typedef float v2 __attribute__((vector_size(8)));

#define ROUND_UP(n, m) (((n) + (m) - 1) / (m) * (m))

int CKernels_uses_avx2(void);
int CKernels_simd_level(void);

#if defined(__x86_64__) || defined(__i386__)
#define HAVE_AVX2_VARIANT 1
#define DISPATCH(name, ...)                                                                                  \
    (CKernels_simd_level() == 2 ? name##_avx512(__VA_ARGS__)                                                 \
     : CKernels_simd_level() == 1 ? name##_avx2(__VA_ARGS__) : name##_generic(__VA_ARGS__))
#else
#define DISPATCH(name, ...) name##_generic(__VA_ARGS__)
#endif
#endif
