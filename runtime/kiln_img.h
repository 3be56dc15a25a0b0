/*
 * kiln_img.h: the image decoder generated kernels call for ImageDecoder's
 * compressed formats: PNG (8-bit gray, gray+alpha, RGB, RGBA, not
 * interlaced) and baseline JPEG (Huffman, 8-bit, gray or YCbCr with
 * 4:4:4, 4:2:2 or 4:2:0 chroma).
 *
 * kiln reads the header when it compiles the model (kiln_img_info): the
 * image's size and the scratch the decode needs. The generated code calls
 * kiln_img_decode on the bytes it is given at run time. The bytes are
 * untrusted: every read is bounds-checked, the work is bounded by the
 * input's length and the image's size, nothing is allocated (the scratch
 * is a block of the arena), and a corrupt image sets a status instead.
 *
 * The JPEG decode is libjpeg's with its default settings (what Pillow
 * uses): the 'islow' integer IDCT, fancy (triangle) chroma upsampling and
 * the fixed-point YCbCr->RGB conversion, so that its pixels are libjpeg's
 * exactly.
 */
#ifndef KILN_IMG_H
#define KILN_IMG_H

#include <stddef.h>
#include <stdint.h>

enum {
    KILN_IMG_PNG = 1,
    KILN_IMG_JPEG = 2,
};

/* What the header of an image says. */
typedef struct kiln_img_info {
    int format;         /* KILN_IMG_PNG or KILN_IMG_JPEG */
    int64_t w, h;       /* pixels */
    int chans;          /* samples a decoded pixel: 3 (RGB) or 1 (gray) */
    int64_t header;     /* bytes from the start the decode's layout depends on
                         * (the caller checks them at run time) */
    int64_t scratch;    /* bytes of scratch kiln_img_decode needs */
    const char *why;    /* when kiln_img_info fails: why, one line */
} kiln_img_info;

/* Is p[0 .. len) a PNG or JPEG kiln_img_decode supports? 0 and *out, or 1
 * with out->why. Reads nothing outside p[0 .. len). */
int kiln_img_info_of(const uint8_t *p, int64_t len, kiln_img_info *out);

/* Decode the image in p[0 .. len) into pix[0 .. npix): h rows of w pixels
 * of `chans` samples (R, G, B or gray), scratch[0 .. cap) its working
 * memory. On a corrupt image, or one other than the npix samples the
 * caller expects, pix is zeroed and *status set to 1; *status is left as
 * it is otherwise. */
void kiln_img_decode(const uint8_t *p, ptrdiff_t len, ptrdiff_t cap, ptrdiff_t npix, uint8_t *scratch, uint8_t *pix,
                     int64_t *status);

#endif
