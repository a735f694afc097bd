// Includes SIMD_BODY twice: as name_avx2 with AVX2 + FMA + F16C enabled (x86 only), and as name_generic for the
// baseline instruction set. Private to CKernels; see simd.h.
#ifdef HAVE_AVX2_VARIANT
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
