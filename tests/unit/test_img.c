/*
 * test_img.c: the runtime's image decoder (runtime/kiln_img.c) alone.
 *
 * A PNG and a 4:2:0 JPEG with restart markers (img/, made by
 * make_img_data.py; KILN_IMG_DIR its path) decode to Pillow's pixels
 * exactly; then every truncation and every one-byte change
 * after the header, which must never read or write outside the input,
 * scratch and pixels (tests/run.sh builds this with the address and
 * undefined sanitizers too): a truncated image is always refused, and a
 * refused one leaves zeroed pixels and the status set.
 */
#include "check.h"
#include "kiln_img.h"

#include <stdlib.h>
#include <string.h>

enum { W = 18, H = 13, NPIX = W * H * 3, MAXB = 4096 };

static uint8_t img_png[MAXB], img_png_pixels[NPIX], img_jpeg[MAXB], img_jpeg_pixels[NPIX];
static int64_t png_len, jpeg_len;

/* img/NAME into buf[0 .. cap): its length, or -1. */
static int64_t load(const char *name, uint8_t *buf, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", KILN_IMG_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (int64_t)n;
}

/* Decode p[0 .. len) as the image `info` describes, into pix: the status. */
static int64_t decode(const uint8_t *p, int64_t len, const kiln_img_info *info, uint8_t *pix)
{
    uint8_t *scratch = malloc((size_t)info->scratch);
    int64_t status = 0;
    kiln_img_decode(p, len, info->scratch, NPIX, scratch, pix, &status);
    free(scratch);
    return status;
}

static int zeroed(const uint8_t *pix)
{
    for (int i = 0; i < NPIX; i++)
        if (pix[i])
            return 0;
    return 1;
}

static void exact(const uint8_t *img, int64_t len, const uint8_t *want, int format)
{
    kiln_img_info info;
    uint8_t pix[NPIX];
    CHECK(kiln_img_info_of(img, len, &info) == 0);
    CHECK(info.format == format && info.w == W && info.h == H && info.chans == 3);
    CHECK(info.header > 0 && info.header < len);
    CHECK(decode(img, len, &info, pix) == 0);
    int diff = 0;
    for (int i = 0; i < NPIX; i++)
        diff += pix[i] != want[i];
    CHECK_MSG(diff == 0, "%d samples differ from Pillow's", diff);
}

static void test_img_png_exact(void) { exact(img_png, png_len, img_png_pixels, KILN_IMG_PNG); }

static void test_img_jpeg_exact(void) { exact(img_jpeg, jpeg_len, img_jpeg_pixels, KILN_IMG_JPEG); }

/* Every shorter input is refused (a JPEG's EOI marker, its last 2 bytes,
 * is not needed), and every one-byte change after the header either
 * decodes or is refused with zeroed pixels: never a read or write outside
 * the buffers, which the sanitizers would report. */
static void damaged(const uint8_t *img, int64_t len, int64_t optional_tail)
{
    kiln_img_info info;
    uint8_t pix[NPIX], *copy = malloc((size_t)len);
    CHECK(kiln_img_info_of(img, len, &info) == 0);
    for (int64_t cut = info.header; cut < len - optional_tail; cut++) {
        uint8_t *part = malloc((size_t)cut); /* exactly cut bytes: the sanitizers see any read past them */
        memcpy(part, img, (size_t)cut);
        memset(pix, 7, sizeof pix);
        CHECK_MSG(decode(part, cut, &info, pix) == 1 && zeroed(pix), "the first %lld bytes", (long long)cut);
        free(part);
    }
    int refused = 0;
    for (int64_t at = info.header; at < len; at++)
        for (int x = 1; x < 256; x <<= 2) {
            memcpy(copy, img, (size_t)len);
            copy[at] ^= (uint8_t)x;
            memset(pix, 7, sizeof pix);
            int64_t st = decode(copy, len, &info, pix);
            CHECK_MSG(st == 0 || zeroed(pix), "byte %lld ^ %d: refused with pixels left", (long long)at, x);
            refused += st != 0;
        }
    CHECK(refused > 0);
    free(copy);
}

static void test_img_png_damaged(void) { damaged(img_png, png_len, 0); }

static void test_img_jpeg_damaged(void) { damaged(img_jpeg, jpeg_len, 2); }

/* Headers kiln refuses, each with its reason; a decode with too little
 * scratch or another pixel count is refused, not overrun. */
static void test_img_refusals(void)
{
    kiln_img_info info;
    uint8_t png[MAXB], pix[NPIX];
    memcpy(png, img_png, sizeof png);
    png[28] = 1; /* interlaced */
    CHECK(kiln_img_info_of(png, png_len, &info) == 1 && strstr(info.why, "interlaced"));
    png[28] = 0;
    png[24] = 16; /* 16-bit samples */
    CHECK(kiln_img_info_of(png, png_len, &info) == 1 && strstr(info.why, "8-bit"));
    uint8_t jpeg[MAXB];
    memcpy(jpeg, img_jpeg, sizeof jpeg);
    for (int64_t i = 2; i + 1 < jpeg_len; i++)
        if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc0) {
            jpeg[i + 1] = 0xc2; /* progressive */
            break;
        }
    CHECK(kiln_img_info_of(jpeg, jpeg_len, &info) == 1 && strstr(info.why, "baseline"));
    CHECK(kiln_img_info_of((const uint8_t *)"GIF89a", 6, &info) == 1);
    CHECK(kiln_img_info_of(img_jpeg, jpeg_len, &info) == 0);
    uint8_t *scratch = malloc((size_t)info.scratch);
    int64_t status = 0;
    kiln_img_decode(img_jpeg, jpeg_len, info.scratch - 64, NPIX, scratch, pix, &status);
    CHECK(status == 1 && zeroed(pix));
    status = 0;
    kiln_img_decode(img_jpeg, jpeg_len, info.scratch, NPIX - 3, scratch, pix, &status);
    CHECK(status == 1);
    free(scratch);
}

int main(void)
{
    png_len = load("photo.png", img_png, sizeof img_png);
    jpeg_len = load("photo.jpg", img_jpeg, sizeof img_jpeg);
    if (png_len <= 0 || jpeg_len <= 0 || png_len == MAXB || jpeg_len == MAXB ||
        load("photo.png.rgb", img_png_pixels, NPIX) != NPIX || load("photo.jpg.rgb", img_jpeg_pixels, NPIX) != NPIX) {
        printf("FAIL unit/test_img: cannot read the images in %s\n", KILN_IMG_DIR);
        return 1;
    }
    RUN(test_img_png_exact);
    RUN(test_img_jpeg_exact);
    RUN(test_img_png_damaged);
    RUN(test_img_jpeg_damaged);
    RUN(test_img_refusals);
    return check_total_failed != 0;
}
