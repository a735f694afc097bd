// Includes SIMD_BODY three times: as name_avx512 with AVX-512 F/BW/VL/DQ (+ FMA, F16C) enabled, as
// name_avx2 with AVX2 + FMA + F16C (x86 only), and as name_generic for the baseline instruction set. A body
// may specialise for AVX-512 under #ifdef WG_AVX512 (32 vector registers, 16-wide vectors). Private to
// CKernels; see simd.h.
#ifdef HAVE_AVX2_VARIANT
#define WG(name) name##_avx512
#define WG_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
#define WG_AVX512 1
#include SIMD_BODY
#undef WG
#undef WG_TARGET
#undef WG_AVX512
#define WG(name) name##_avx2
#define WG_TARGET __attribute__((target("avx2,fma,f16c")))
#include SIMD_BODY
#undef WG
#undef WG_TARGET
#endif
#define WG(name) name##_generic
#define WG_TARGET
#include SIMD_BODY
#undef WG
#undef WG_TARGET
