#ifndef CFILERENAME_H
#define CFILERENAME_H

/// Linux renameat2(2) with RENAME_NOREPLACE: moves `from` to `to` only when `to` does not exist,
/// decided by the kernel at the rename. Returns 0, or -1 with errno (EEXIST when `to` exists; EINVAL,
/// ENOSYS or EOPNOTSUPP where the filesystem or kernel lacks the flag).
int vgg_rename_noreplace(const char *from, const char *to);

/// Linux renameat2(2) with RENAME_EXCHANGE: swaps the two names atomically (both must exist).
/// Returns 0, or -1 with errno (ENOENT when one is missing; EINVAL, ENOSYS or EOPNOTSUPP where unsupported).
int vgg_rename_exchange(const char *from, const char *to);

#endif
