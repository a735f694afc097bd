// Why this shim exists: HDF5's constants (H5P_DEFAULT, H5T_NATIVE_FLOAT, H5F_ACC_RDONLY, ...) are
// macros that call H5open(), which Swift's ClangImporter cannot import. Each one is exposed here as
// a static inline getter with the CHDF5_ prefix. The one other thing here is a trampoline for
// H5Lvisit, whose callback's info struct changes between libhdf5 1.10 and 1.12+: C picks the right one.
#ifndef CHDF5_H
#define CHDF5_H

#include <hdf5.h>
#include <hdf5_hl.h>

static inline hid_t CHDF5_P_DEFAULT(void) { return H5P_DEFAULT; }
static inline unsigned CHDF5_F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline hid_t CHDF5_S_ALL(void) { return H5S_ALL; }
static inline hid_t CHDF5_E_DEFAULT(void) { return H5E_DEFAULT; }
static inline haddr_t CHDF5_HADDR_UNDEF(void) { return HADDR_UNDEF; }
static inline hid_t CHDF5_T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t CHDF5_T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t CHDF5_T_NATIVE_UINT16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t CHDF5_T_NATIVE_INT8(void) { return H5T_NATIVE_INT8; }
static inline hid_t CHDF5_T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t CHDF5_T_NATIVE_INT16(void) { return H5T_NATIVE_INT16; }
static inline hid_t CHDF5_T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t CHDF5_T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t CHDF5_T_C_S1(void) { return H5T_C_S1; }
// Writing (KerasFormat/HDF5Writer.swift).
static inline unsigned CHDF5_F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline hid_t CHDF5_P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t CHDF5_P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
static inline hid_t CHDF5_T_IEEE_F16LE(void) {
    // HDF5 has no predefined half type: h5py's, made from the IEEE single-precision type.
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}
static inline hid_t CHDF5_T_IEEE_F32LE(void) { return H5Tcopy(H5T_IEEE_F32LE); }
static inline hid_t CHDF5_T_IEEE_F64LE(void) { return H5Tcopy(H5T_IEEE_F64LE); }
static inline unsigned CHDF5_LT_FILE_IMAGE_DONT_COPY_AND_RELEASE(void) {
    return H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE;
}

/// Silences libhdf5's default error printer; vggconv reports failures with its own messages.
static inline void CHDF5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// Called once per link (path relative to the file's root, H5L_type_t as int); non-zero stops the walk.
typedef int (*CHDF5_link_visitor)(const char *name, int link_type, void *context);

struct CHDF5_visit_context { CHDF5_link_visitor visitor; void *context; };

static herr_t CHDF5_visit_trampoline(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)group;
    struct CHDF5_visit_context *ctx = (struct CHDF5_visit_context *)data;
    return ctx->visitor(name, (int)info->type, ctx->context);
}

/// Visits every link reachable from `file` through hard links (soft and external links are reported,
/// never followed).
static inline herr_t CHDF5_visit_links(hid_t file, CHDF5_link_visitor visitor, void *context) {
    struct CHDF5_visit_context ctx = { visitor, context };
    return H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, CHDF5_visit_trampoline, &ctx);
}

#endif
