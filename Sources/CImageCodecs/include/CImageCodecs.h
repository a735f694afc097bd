// Why this target exists: libjpeg and libpng report errors by longjmp, which Swift cannot survive, so the
// decoders live in C behind setjmp; Swift sees plain sizes, pixels copied into its own arrays, and an
// error text. JPEG is decoded as Pillow does (libjpeg-turbo defaults: islow DCT, fancy upsampling, RGB
// output); PNG is expanded to 8-bit RGB as Pillow's convert("RGB") does (palette colours, gray
// replicated, alpha dropped, 16-bit RGB by its high byte, 16-bit gray clipped at 255, no gamma).
#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H
#include <stddef.h>

typedef struct {
    unsigned char *pixels;  // width * height * 3 bytes, RGB, row-major; free with cimage_free
    int width;
    int height;
    char error[256];
    size_t needed_bytes;  // set when -2 is returned: what decoding would have needed
} cimage_result;

/// The limits a decode runs under, all checked before the work they bound.
typedef struct {
    size_t max_pixels;  // width * height
    size_t max_memory;  // bytes the decoder may allocate, the caller's copy of the pixels included
    int max_scans;      // scans of a progressive JPEG (each one is a pass over the whole image)
} cimage_limits;

/// Decodes a JPEG held in memory. Returns 0 on success; -1 with result->error set; -2 when decoding
/// would need more than limits.max_memory (result->needed_bytes says how much), before allocating it.
int cimage_decode_jpeg(const unsigned char *data, size_t size, cimage_limits limits, cimage_result *result);

/// Decodes a PNG held in memory; as above.
int cimage_decode_png(const unsigned char *data, size_t size, cimage_limits limits, cimage_result *result);

/// Encodes 8-bit RGB (channels 3) or gray (channels 1) pixels as a PNG into a malloc'ed buffer.
/// Returns 0 on success (*out, *out_size set; free with cimage_free_buffer), -1 otherwise.
int cimage_encode_png(const unsigned char *pixels, int width, int height, int channels, unsigned char **out, size_t *out_size);

void cimage_free(cimage_result *result);
void cimage_free_buffer(unsigned char *buffer);

#endif
