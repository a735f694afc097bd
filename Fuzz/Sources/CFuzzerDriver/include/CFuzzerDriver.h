// libFuzzer's driver entry (compiler-rt's FuzzerInterface.h), linked in by -sanitize=fuzzer. SwiftPM
// names the executable's own entry `VGGConvFuzz_main` and aliases `main` to it, so libFuzzer's `main`
// is not the one that runs: the harness calls the driver itself.
#ifndef CFUZZERDRIVER_H
#define CFUZZERDRIVER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// Maps the shared copy of the coverage counters; returns 0 when the binary has none.
int vggconv_child_coverage_setup(void);
/// In the forked child, before it exits: its counters into the shared copy.
void vggconv_child_coverage_save(void);
/// In the parent, after the child ended with `status`: a trap or sanitizer report in the child aborts
/// (a finding); otherwise the shared copy is merged into the counters, then cleared.
void vggconv_child_ended(int status);

#endif
