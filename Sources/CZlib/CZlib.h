// Why this shim exists: zlib's inflateInit2 is a macro, which Swift cannot call; it is wrapped here.
#ifndef CZLIB_H
#define CZLIB_H
#include <zlib.h>

static inline int CZlib_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
#endif
