// Coverage of code that runs in a forked child (libhdf5 reads run only there, see CrashIsolation):
// the child updates its own copy of libFuzzer's inline 8-bit counters, which the fuzzer never sees.
// The child copies its counters into a shared mapping before it exits; the parent merges them back
// (the larger count wins) after the child ended, so the fuzzer is guided by the child's paths too.
#include "CFuzzerDriver.h"
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>

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

// The exit status of a child whose sanitizer report is about an access libhdf5 made (libhdf5 is not
// instrumented: ASan sees its memcpy, malloc and free through interceptors only).
#define LIBHDF5_FAULT_EXIT 78

static pid_t fuzzer_pid;

// The report's line for stack frame `frame` ("    #1 0x... in H5C_protect (libhdf5_serial.so...)"), or NULL.
UNINSTRUMENTED static const char *frame_line(const char *report, int frame) {
    char tag[16];
    snprintf(tag, sizeof tag, "#%d 0x", frame);
    return strstr(report, tag);
}

UNINSTRUMENTED static int line_mentions(const char *line, const char *what) {
    if (!line) return 0;
    const char *end = strchr(line, '\n');
    size_t length = end ? (size_t)(end - line) : strlen(line);
    size_t n = strlen(what);
    for (size_t i = 0; i + n <= length; i++)
        if (memcmp(line + i, what, n) == 0) return 1;
    return 0;
}

// In the isolated child only: a report whose first frame outside the sanitizer runtime is in libhdf5
// is libhdf5's own memory error on a damaged file (a use after free inside H5Aexists, a 2^56-byte
// metadata allocation), which the isolation exists to contain; vggconv refuses such a file. The child
// then ends as if libhdf5 had crashed instead of with the sanitizer's status 77 (a finding). A report
// in vggconv's own code, or anywhere in the fuzzing process, stays a finding.
// Set in the child when the sanitizer produced an error report (see child_death).
static volatile int child_reported;

UNINSTRUMENTED static void child_report(const char *report) {
    if (getpid() == fuzzer_pid) return;
    child_reported = 1;
    const char *line = NULL;
    for (int frame = 0; frame < 8; frame++) {  // the first frame outside the sanitizer's interceptors
        line = frame_line(report, frame);
        if (!line || !(line_mentions(line, "compiler-rt") || line_mentions(line, "sanitizer"))) break;
    }
    if (line_mentions(line, "libhdf5")) {
        fprintf(stderr, "==vggconv-fuzz== libhdf5's own memory error in the isolated child: a refused file, not a finding\n");
        vggconv_child_coverage_save();
        _exit(LIBHDF5_FAULT_EXIT);
    }
}

// In the isolated child only: the sanitizer runtime dying without an error report, under the data
// cap the isolation sets (RLIMIT_DATA), is its own bookkeeping failing to map memory ("out of memory:
// failed to allocate … InternalMmapVector (error code: 12)"): the child outgrew the cap, which is the
// cap doing its job — in production the same file is refused (found on a 27 KB file: exit 2, 342 MB
// peak). It ends as a contained failure, not with status 77 (a finding). Any death after an error
// report, or outside a capped child, keeps the sanitizer's status. Installed in each child right after
// `fork` (libFuzzer installs its own death callback, which the fuzzing process keeps); writes without
// allocating, since memory is what ran out.
UNINSTRUMENTED static void child_death(void) {
    if (getpid() == fuzzer_pid || child_reported) return;
    struct rlimit limit;
    if (getrlimit(RLIMIT_DATA, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
    static const char message[] = "==vggconv-fuzz== the sanitizer ran out of memory under the isolated child's data cap: a refused file, not a finding\n";
    ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
    (void)ignored;
    vggconv_child_coverage_save();
    _exit(LIBHDF5_FAULT_EXIT);
}

UNINSTRUMENTED static void child_after_fork(void) { __sanitizer_set_death_callback(child_death); }

UNINSTRUMENTED int vggconv_child_coverage_setup(void) {
    fuzzer_pid = getpid();
    __asan_set_error_report_callback(child_report);
    pthread_atfork(NULL, NULL, child_after_fork);
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
    // 77, set in ASAN_OPTIONS by scripts/fuzz/run.sh) in the child is vggconv's own bug, which users would
    // only see as a refused file: make it a finding here. libhdf5's own crashes (SIGSEGV, SIGABRT) and
    // memory errors (LIBHDF5_FAULT_EXIT, see child_report) stay what the isolation turns them into.
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
