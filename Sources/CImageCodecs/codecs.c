#include "CImageCodecs.h"
#include <stdio.h>  // before jpeglib.h, which uses FILE
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- JPEG

struct jpeg_failure {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    cimage_result *result;
    int truncated;
};

// Counts scans as libjpeg consumes them: a progressive file may repeat scans without end, each one a
// pass over the whole image (libjpeg-turbo's djpeg -maxscans guards the same way).
struct scan_limit {
    struct jpeg_progress_mgr manager;
    int max_scans;
};

static void jpeg_check_scans(j_common_ptr info) {
    struct scan_limit *limit = (struct scan_limit *)info->progress;
    j_decompress_ptr decompress = (j_decompress_ptr)info;
    if (decompress->input_scan_number > limit->max_scans) {
        struct jpeg_failure *failure = (struct jpeg_failure *)info->err;
        snprintf(failure->result->error, sizeof failure->result->error,
                 "JPEG: more than %d scans (a progressive JPEG has about 10; each scan decodes the whole image again)", limit->max_scans);
        longjmp(failure->jump, 1);
    }
}

// Bytes libjpeg keeps for a progressive (or multi-scan) file's coefficients: 64 16-bit values per block
// of every component, rounded up to whole MCUs.
static size_t jpeg_coefficient_bytes(j_decompress_ptr info) {
    if (!jpeg_has_multiple_scans(info)) return 0;
    size_t total = 0;
    for (int c = 0; c < info->num_components; c++) {
        jpeg_component_info *component = &info->comp_info[c];
        size_t across = ((size_t)component->width_in_blocks + component->h_samp_factor - 1) / component->h_samp_factor * component->h_samp_factor;
        size_t down = ((size_t)component->height_in_blocks + component->v_samp_factor - 1) / component->v_samp_factor * component->v_samp_factor;
        total += across * down * 64 * sizeof(JCOEF);
    }
    return total;
}

static void jpeg_fail(j_common_ptr info) {
    struct jpeg_failure *failure = (struct jpeg_failure *)info->err;
    char text[JMSG_LENGTH_MAX];
    (*info->err->format_message)(info, text);
    snprintf(failure->result->error, sizeof failure->result->error, "JPEG: %s", text);
    longjmp(failure->jump, 1);
}

// Warnings are ignored, as Pillow ignores them, except the end of data arriving early: Pillow refuses a
// truncated file ("image file is truncated") rather than pad it with gray.
static void jpeg_quiet(j_common_ptr info, int level) {
    struct jpeg_failure *failure = (struct jpeg_failure *)info->err;
    if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) failure->truncated = 1;
}

int cimage_decode_jpeg(const unsigned char *data, size_t size, cimage_limits limits, cimage_result *result) {
    memset(result, 0, sizeof *result);
    struct jpeg_decompress_struct info;
    struct jpeg_failure failure;
    info.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_fail;
    failure.manager.emit_message = jpeg_quiet;
    failure.result = result;
    failure.truncated = 0;
    unsigned char *volatile pixels = NULL;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&info);
        free(pixels);
        result->pixels = NULL;
        return -1;
    }
    jpeg_create_decompress(&info);
    struct scan_limit scans = {.manager = {.progress_monitor = jpeg_check_scans}, .max_scans = limits.max_scans};
    info.progress = &scans.manager;
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
        snprintf(result->error, sizeof result->error, "JPEG: CMYK images are not supported; convert it to RGB first");
        jpeg_destroy_decompress(&info);
        return -1;
    }
    const size_t max_pixels = limits.max_pixels;
    if ((size_t)info.image_width * info.image_height > max_pixels) {
        snprintf(result->error, sizeof result->error, "JPEG: %ux%u pixels is more than the %zu allowed", info.image_width,
                 info.image_height, max_pixels);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    // The RGB output twice (here and the caller's copy) and the coefficients a multi-scan file keeps.
    const size_t needed = (size_t)info.image_width * info.image_height * 3 * 2 + jpeg_coefficient_bytes(&info);
    if (needed > limits.max_memory) {
        result->needed_bytes = needed;
        jpeg_destroy_decompress(&info);
        return -2;
    }
    info.mem->max_memory_to_use = (long)(limits.max_memory < (size_t)0x7fffffff ? limits.max_memory : 0x7fffffff);
    info.out_color_space = JCS_RGB;  // grayscale is replicated, as Pillow's convert("RGB")
    info.dct_method = JDCT_ISLOW;
    info.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&info);
    const size_t stride = (size_t)info.output_width * 3;
    pixels = malloc(stride * info.output_height);
    if (!pixels) {
        snprintf(result->error, sizeof result->error, "JPEG: out of memory");
        jpeg_destroy_decompress(&info);
        return -1;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = pixels + stride * info.output_scanline;
        jpeg_read_scanlines(&info, &row, 1);
    }
    if (failure.truncated) {
        snprintf(result->error, sizeof result->error, "JPEG: the file is truncated (its data ends before the image does)");
        jpeg_destroy_decompress(&info);
        free(pixels);
        return -1;
    }
    jpeg_finish_decompress(&info);
    result->width = (int)info.output_width;
    result->height = (int)info.output_height;
    result->pixels = pixels;
    jpeg_destroy_decompress(&info);
    return 0;
}

// ---------------------------------------------------------------- PNG

struct png_source {
    const unsigned char *data;
    size_t size, position;
};

static void png_read_memory(png_structp png, png_bytep out, png_size_t count) {
    struct png_source *source = (struct png_source *)png_get_io_ptr(png);
    if (count > source->size - source->position) png_error(png, "file is truncated");
    memcpy(out, source->data + source->position, count);
    source->position += count;
}

static void png_fail(png_structp png, png_const_charp message) {
    cimage_result *result = (cimage_result *)png_get_error_ptr(png);
    snprintf(result->error, sizeof result->error, "PNG: %s", message);
    png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp message) { (void)png; (void)message; }

int cimage_decode_png(const unsigned char *data, size_t size, cimage_limits limits, cimage_result *result) {
    const size_t max_pixels = limits.max_pixels;
    memset(result, 0, sizeof *result);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, result, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        snprintf(result->error, sizeof result->error, "PNG: out of memory");
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    unsigned char *volatile pixels = NULL;
    unsigned char *volatile image = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(image);
        free(rows);
        return -1;
    }
    struct png_source source = {data, size, 0};
    png_set_read_fn(png, &source, png_read_memory);
    png_set_user_limits(png, 1 << 20, 1 << 20);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if ((size_t)width * height > max_pixels) {
        snprintf(result->error, sizeof result->error, "PNG: %ux%u pixels is more than the %zu allowed", width, height, max_pixels);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    // Pillow reads 16-bit gray (I;16) as a number clipped to 255, but 16-bit gray+alpha (LA;16B) by its high byte.
    int gray16 = depth == 16 && type == PNG_COLOR_TYPE_GRAY;
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (depth < 8 && !(type & PNG_COLOR_MASK_COLOR)) png_set_expand_gray_1_2_4_to_8(png);
    // Pillow's convert("RGB") ignores tRNS and alpha: no expansion of transparency into alpha.
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (depth == 16 && !gray16) png_set_strip_16(png);  // the high byte, as Pillow's RGB;16B unpacker
    if (depth == 16 && gray16) png_set_swap(png);       // little-endian 16-bit gray, clipped below
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const size_t row_bytes = png_get_rowbytes(png, info);
    const int channels = png_get_channels(png, info);
    // The RGB output twice (here and the caller's copy), the decoded rows and their pointers.
    const size_t needed = (size_t)width * height * 3 * 2 + (row_bytes + sizeof(png_bytep)) * height;
    if (needed > limits.max_memory) {
        result->needed_bytes = needed;
        png_destroy_read_struct(&png, &info, NULL);
        return -2;
    }
    pixels = malloc((size_t)width * height * 3);
    image = malloc(row_bytes * height);
    rows = malloc(sizeof(png_bytep) * height);
    if (!pixels || !image || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = image + y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    for (png_uint_32 y = 0; y < height; y++) {
        const unsigned char *in = image + y * row_bytes;
        unsigned char *out = pixels + (size_t)y * width * 3;
        for (png_uint_32 x = 0; x < width; x++) {
            if (gray16) {
                unsigned v = in[x * 2] | (unsigned)in[x * 2 + 1] << 8;
                unsigned char g = v > 255 ? 255 : (unsigned char)v;  // Pillow: I;16 -> L clips
                out[x * 3] = out[x * 3 + 1] = out[x * 3 + 2] = g;
            } else if (channels == 1) {
                out[x * 3] = out[x * 3 + 1] = out[x * 3 + 2] = in[x];
            } else {
                memcpy(out + x * 3, in + x * channels, 3);
            }
        }
    }
    free(image);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    result->width = (int)width;
    result->height = (int)height;
    result->pixels = pixels;
    return 0;
}

struct png_sink {
    unsigned char *data;
    size_t size, capacity;
    int failed;
};

static void png_write_memory(png_structp png, png_bytep bytes, png_size_t count) {
    struct png_sink *sink = (struct png_sink *)png_get_io_ptr(png);
    if (sink->size + count > sink->capacity) {
        size_t capacity = (sink->size + count) * 2;
        unsigned char *grown = realloc(sink->data, capacity);
        if (!grown) png_error(png, "out of memory");
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, bytes, count);
    sink->size += count;
}

static void png_flush_memory(png_structp png) { (void)png; }

int cimage_encode_png(const unsigned char *pixels, int width, int height, int channels, unsigned char **out, size_t *out_size) {
    cimage_result scratch;
    memset(&scratch, 0, sizeof scratch);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &scratch, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    struct png_sink sink = {NULL, 0, 0, 0};
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(sink.data);
        return -1;
    }
    png_set_write_fn(png, &sink, png_write_memory, png_flush_memory);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(pixels + (size_t)y * width * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = sink.data;
    *out_size = sink.size;
    return 0;
}

void cimage_free(cimage_result *result) {
    free(result->pixels);
    result->pixels = NULL;
}

void cimage_free_buffer(unsigned char *buffer) { free(buffer); }
