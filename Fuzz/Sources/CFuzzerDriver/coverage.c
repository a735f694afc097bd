// Coverage of code that runs in a forked child (libhdf5 reads run only there, see CrashIsolation):
// the child updates its own copy of libFuzzer's inline 8-bit counters, which the fuzzer never sees.
// The child copies its counters into a shared mapping before it exits; the parent merges them back
// (the larger count wins) after the child ended, so the fuzzer is guided by the child's paths too.
#include "CFuzzerDriver.h"
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

// The linker's bounds of the section holding the inline 8-bit counters (-sanitize=fuzzer).
extern uint8_t __start___sancov_cntrs[] __attribute__((weak));
extern uint8_t __stop___sancov_cntrs[] __attribute__((weak));

// Nothing in this file is instrumented itself: the instrumentation's own references to the section
// bounds would clash with the declarations above.
#define UNINSTRUMENTED __attribute__((no_sanitize("coverage")))

static uint8_t *shared_counters;

UNINSTRUMENTED static size_t counter_count(void) {
    if (!__start___sancov_cntrs || !__stop___sancov_cntrs) return 0;
    return (size_t)(__stop___sancov_cntrs - __start___sancov_cntrs);
}

UNINSTRUMENTED int vggconv_child_coverage_setup(void) {
    size_t count = counter_count();
    if (count == 0) return 0;
    void *mapping = mmap(NULL, count, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) return 0;
    shared_counters = mapping;
    return 1;
}

UNINSTRUMENTED void vggconv_child_coverage_save(void) {
    if (shared_counters) memcpy(shared_counters, __start___sancov_cntrs, counter_count());
}

UNINSTRUMENTED void vggconv_child_ended(int status) {
    // A trap (SIGILL: a Swift precondition, overflow or bounds check) or a sanitizer report (exit code
    // 77, set in ASAN_OPTIONS by scripts/fuzz.sh) in the child is vggconv's own bug, which users would
    // only see as a refused file: make it a finding here. libhdf5's own crashes (SIGSEGV, SIGABRT) stay
    // what the isolation turns them into.
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGILL) {
        fprintf(stderr, "==vggconv-fuzz== the isolated child trapped (SIGILL)\n");
        abort();
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        fprintf(stderr, "==vggconv-fuzz== the isolated child's sanitizer reported an error (above)\n");
        abort();
    }
    if (!shared_counters) return;
    size_t count = counter_count();
    for (size_t i = 0; i < count; i++) {
        if (shared_counters[i] > __start___sancov_cntrs[i]) __start___sancov_cntrs[i] = shared_counters[i];
    }
    memset(shared_counters, 0, count);
}
