// Why this shim exists: Intel ISA-L's CRC-32 (PCLMUL/vector folding, about 10x zlib 1.2's table
// implementation) checksums 553 MB of VGG16 tensors in a few tens of milliseconds. Only crc.h is used.
#ifndef CISAL_H
#define CISAL_H
#include <isa-l/crc.h>
#endif
