// Why this shim exists: one place that includes OpenBLAS's cblas.h (Debian installs it under the
// multiarch include directory that pkg-config's `openblas` names). Only cblas_sgemm and the thread
// controls are used, by the Inference module.
#ifndef CBLAS_SHIM_H
#define CBLAS_SHIM_H
#include <cblas.h>
#endif
