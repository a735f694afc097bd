// The experiment behind docs/conversion.md "writing through a shared mapping": filling a 560 MiB file in
// tmpfs (/dev/shm) as the conversion writer does (8 MiB pwrite calls from one thread) against writing
// it through a MAP_SHARED mapping from two threads (page faults allocate the file's pages in parallel),
// and against fallocate + MAP_POPULATE first. Run: bash scripts/bench/micro/run.sh
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define FILE_BYTES (560ul << 20)
#define BLOCK (8ul << 20)
#define SOURCE_BYTES (64ul << 20)

static char *source, *mapping;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct { size_t begin, end; } Range;

static void *copy_range(void *argument) {
    const Range *range = argument;
    for (size_t at = range->begin; at < range->end; at += BLOCK) memcpy(mapping + at, source + at % SOURCE_BYTES, BLOCK);
    return NULL;
}

static void copy_on_two_threads(void) {
    pthread_t threads[2];
    Range halves[2] = {{0, FILE_BYTES / 2}, {FILE_BYTES / 2, FILE_BYTES}};
    for (int k = 0; k < 2; k++) pthread_create(&threads[k], NULL, copy_range, &halves[k]);
    for (int k = 0; k < 2; k++) pthread_join(threads[k], NULL);
}

static int fresh(const char *path) {
    unlink(path);
    const int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0) perror(path), exit(1);
    return fd;
}

static void map_or_die(int fd, int flags) {
    mapping = mmap(NULL, FILE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | flags, fd, 0);
    if (mapping == MAP_FAILED) perror("mmap"), exit(1);
}

int main(void) {
    const char *path = "/dev/shm/vggconv-output-writes.bin";
    source = malloc(SOURCE_BYTES);
    memset(source, 7, SOURCE_BYTES);
    for (int round = 0; round < 3; round++) {
        int fd = fresh(path);
        double start = now();
        for (size_t at = 0; at < FILE_BYTES; at += BLOCK) {
            if (pwrite(fd, source + at % SOURCE_BYTES, BLOCK, (off_t)at) != (ssize_t)BLOCK) perror("pwrite"), exit(1);
        }
        printf("pwrite, 1 thread:                      %4.0f ms\n", (now() - start) * 1e3);
        close(fd);

        fd = fresh(path);
        start = now();
        if (ftruncate(fd, FILE_BYTES)) perror("ftruncate"), exit(1);
        map_or_die(fd, 0);
        copy_on_two_threads();
        munmap(mapping, FILE_BYTES);
        printf("shared mapping, faults on 2 threads:   %4.0f ms\n", (now() - start) * 1e3);
        close(fd);

        fd = fresh(path);
        start = now();
        if (fallocate(fd, 0, 0, FILE_BYTES)) perror("fallocate"), exit(1);
        map_or_die(fd, MAP_POPULATE);
        copy_on_two_threads();
        munmap(mapping, FILE_BYTES);
        printf("fallocate + MAP_POPULATE + 2 threads:  %4.0f ms\n", (now() - start) * 1e3);
        close(fd);
    }
    unlink(path);
    free(source);
    return 0;
}
