#include "CKernels.h"
#include "simd.h"
#include <stdlib.h>

int CKernels_uses_avx2(void) {
#ifdef HAVE_AVX2_VARIANT
    static int cached = -1;
    if (cached < 0) {
        const char *choice = getenv("VGGCONV_SIMD");
        __builtin_cpu_init();
        cached = !(choice && strcmp(choice, "generic") == 0) && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                 __builtin_cpu_supports("f16c");
    }
    return cached;
#else
    return 0;
#endif
}
