// renameat2 through the system call: glibc declares it only under _GNU_SOURCE and only since 2.28,
// and Swift's Glibc module does not export it.
#define _GNU_SOURCE
#include "CFileRename.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int rename_with_flags(const char *from, const char *to, unsigned int flags) {
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
#else
    (void)from; (void)to; (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

int vgg_rename_noreplace(const char *from, const char *to) { return rename_with_flags(from, to, RENAME_NOREPLACE); }

int vgg_rename_exchange(const char *from, const char *to) { return rename_with_flags(from, to, RENAME_EXCHANGE); }
