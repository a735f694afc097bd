#include "CKernels.h"
#include "simd.h"
#include <stdlib.h>

int CKernels_simd_level(void) {
#ifdef HAVE_AVX2_VARIANT
    static int cached = -1;
    if (cached < 0) {
        const char *choice = getenv("VGGCONV_SIMD");
        __builtin_cpu_init();
        const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
        const int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
        int level = avx512 ? 2 : avx2 ? 1 : 0;
        // VGGCONV_SIMD picks a lower level (never one the CPU lacks).
        if (choice && strcmp(choice, "generic") == 0) level = 0;
        else if (choice && strcmp(choice, "avx2") == 0 && level > 1) level = 1;
        cached = level;
    }
    return cached;
#else
    return 0;
#endif
}

int CKernels_uses_avx2(void) { return CKernels_simd_level() >= 1; }

const char *CKernels_simd_name(void) {
    static const char *names[] = {"generic", "avx2", "avx512"};
    return names[CKernels_simd_level()];
}
