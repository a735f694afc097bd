// libFuzzer's driver entry (compiler-rt's FuzzerInterface.h), linked in by -sanitize=fuzzer. SwiftPM
// names the executable's own entry `VGGConvFuzz_main` and aliases `main` to it, so libFuzzer's `main`
// is not the one that runs: the harness calls the driver itself.
#ifndef CFUZZERDRIVER_H
#define CFUZZERDRIVER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
