/*
 * imgdec.c: ImageDecoder, for the image formats whose pixels are stored
 * uncompressed: BMP (24 and 32 bits, BI_RGB), PNM (binary P6 and P5,
 * maxval 255) and TIFF (8-bit RGB or gray, uncompressed, chunky); and for
 * PNG (8-bit, not interlaced) and baseline JPEG, decoded at run time.
 *
 * The output's shape is the image's: it comes from the header of the
 * encoded bytes, which must be known at compile time, as a Reshape's
 * shape input must (a constant, or the value kiln check binds from test
 * data). Only the header is compiled in: the input stays an input, and
 * the generated code checks on entry that the header of the bytes it is
 * given is the one it was compiled for, byte for byte (a guard on the
 * input's first bytes, Value.guard_bytes: model_run returns 1 otherwise).
 * With the header fixed, where each row's pixels start, the pixel size and
 * the channel order are constants: the lowering is one gather,
 * y[h, w, c] = bytes[row[h] + w * pixel + channel(c)], row[] a table of
 * the H row offsets (bottom-up BMPs, TIFF strips), Grayscale computed from
 * R, G and B as Pillow (the ONNX reference's decoder) does:
 * (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
 *
 * PNG and JPEG pixels are compressed: the generated code decodes them
 * first, calling the runtime's decoder (runtime/kiln_img.h, kiln_img_decode:
 * S_CALL) into a scratch image of the header's size, pixel after pixel R,
 * G, B (or gray), with arena scratch of the size the header asks for. The
 * gather above then reads that image instead of the input, its rows even.
 * The header guard covers what the decoder's layout depends on (PNG's
 * IHDR, JPEG's markers up to the scan); the rest is checked as it is
 * decoded, and a corrupt image sets the run status (Program.status):
 * model_run returns MODEL_ERR_DATA.
 *
 * The other compressed formats (WebP, JPEG 2000, GIF) are reported
 * unsupported at compile time, naming the format; an image of another
 * format at run time fails the header guard.
 */
#include "op.h"
#include "../../runtime/kiln_img.h"

#include <stdlib.h>
#include <string.h>

/* What the header says: the image and where its pixels are. */
typedef struct ImgLayout {
    int64_t w, h;       /* pixels */
    int chans;          /* samples a pixel: 3 (color) or 1 (gray) */
    int pixel;          /* bytes a pixel */
    int bgr;            /* samples stored B, G, R */
    int64_t header;     /* bytes of header (all before the pixels) */
    int64_t *row;       /* [h] byte offset of each row's first pixel */
    int64_t scratch;    /* PNG, JPEG: bytes of scratch the decoder needs;
                         * 0: the pixels are the input's own */
} ImgLayout;

static uint32_t rd16(const uint8_t *p, int be) { return be ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0]; }
static uint32_t rd32(const uint8_t *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* The header's rows, each `stride` bytes from the last, from `first`
 * (bottom-up: the last row first). */
static void rows_even(Arena *a, ImgLayout *L, int64_t first, int64_t stride, int bottom_up)
{
    L->row = arena_alloc(a, sizeof(int64_t) * (size_t)(L->h + 1));
    for (int64_t y = 0; y < L->h; y++)
        L->row[y] = first + (bottom_up ? L->h - 1 - y : y) * stride;
}

static int bad(Graph *g, Node *n, Diag *d, const char *fmt, const char *why)
{
    return diag_node(d, g, n, "%s image: %s", fmt, why);
}

static int parse_bmp(Arena *a, Graph *g, Node *n, const uint8_t *p, int64_t len, ImgLayout *L, Diag *d)
{
    if (len < 54)
        return bad(g, n, d, "BMP", "the header is truncated");
    uint32_t off = rd32(p + 10, 0), dib = rd32(p + 14, 0);
    int32_t w = (int32_t)rd32(p + 18, 0), h = (int32_t)rd32(p + 22, 0);
    uint32_t bpp = rd16(p + 28, 0), comp = rd32(p + 30, 0);
    if (dib < 40 || 14 + (int64_t)dib > len)
        return bad(g, n, d, "BMP", "only BITMAPINFOHEADER (40 bytes) and later headers are supported");
    if (comp != 0 || (bpp != 24 && bpp != 32))
        return bad(g, n, d, "BMP", "only uncompressed 24- and 32-bit pixels (BI_RGB) are supported");
    if (w <= 0 || h == 0 || h == INT32_MIN || w > 65535 || (h < 0 ? -h : h) > 65535)
        return bad(g, n, d, "BMP", "the width or height is out of range");
    L->w = w;
    L->h = h < 0 ? -h : h;
    L->chans = 3;
    L->pixel = (int)bpp / 8;
    L->bgr = 1;
    L->header = off;
    int64_t stride = ((int64_t)w * bpp + 31) / 32 * 4;
    if (off < 14 + dib || off > len || stride * L->h > len - off)
        return bad(g, n, d, "BMP", "the pixels lie outside the input");
    rows_even(a, L, off, stride, h > 0);
    return 0;
}

/* PNM: magic, then width, height and maxval, each after whitespace and
 * comments, then one whitespace byte and the pixels. */
static int pnm_int(const uint8_t *p, int64_t len, int64_t *i, int64_t *out)
{
    for (;;) {
        while (*i < len && (p[*i] == ' ' || p[*i] == '\t' || p[*i] == '\n' || p[*i] == '\r'))
            ++*i;
        if (*i < len && p[*i] == '#') {
            while (*i < len && p[*i] != '\n')
                ++*i;
            continue;
        }
        break;
    }
    int64_t v = 0, digits = 0;
    while (*i < len && p[*i] >= '0' && p[*i] <= '9' && digits < 9) {
        v = v * 10 + (p[*i] - '0');
        ++*i;
        digits++;
    }
    *out = v;
    return digits == 0 || (*i < len && p[*i] >= '0' && p[*i] <= '9');
}

static int parse_pnm(Arena *a, Graph *g, Node *n, const uint8_t *p, int64_t len, ImgLayout *L, Diag *d)
{
    int64_t i = 2, w, h, maxval;
    if (p[1] != '6' && p[1] != '5')
        return bad(g, n, d, "PNM", "only binary P6 (color) and P5 (gray) images are supported");
    if (pnm_int(p, len, &i, &w) || pnm_int(p, len, &i, &h) || pnm_int(p, len, &i, &maxval) || i >= len)
        return bad(g, n, d, "PNM", "the header is malformed");
    if (maxval != 255)
        return bad(g, n, d, "PNM", "only maxval 255 is supported");
    if (w <= 0 || h <= 0)
        return bad(g, n, d, "PNM", "the width or height is out of range");
    i++; /* the one whitespace byte before the pixels */
    L->w = w;
    L->h = h;
    L->chans = L->pixel = p[1] == '6' ? 3 : 1;
    L->bgr = 0;
    L->header = i;
    if (w * h * L->pixel > len - i)
        return bad(g, n, d, "PNM", "the pixels lie outside the input");
    rows_even(a, L, i, w * L->pixel, 0);
    return 0;
}

/* TIFF: the first IFD's tags. Every array they point to and the IFD
 * itself must lie before the first strip: the header is all of that. */
static int parse_tiff(Arena *a, Graph *g, Node *n, const uint8_t *p, int64_t len, ImgLayout *L, Diag *d)
{
    int be = p[0] == 'M';
    uint32_t ifd = rd32(p + 4, be);
    if (ifd < 8 || (int64_t)ifd + 2 > len)
        return bad(g, n, d, "TIFF", "the directory lies outside the input");
    uint32_t cnt = rd16(p + ifd, be);
    int64_t end = (int64_t)ifd + 2 + 12 * (int64_t)cnt + 4;
    if (end > len)
        return bad(g, n, d, "TIFF", "the directory lies outside the input");
    int64_t w = 0, h = 0, spp = 1, comp = 1, photo = -1, planar = 1, rps = -1, orient = 1;
    int64_t nstrips = 0, strips_at = 0, strip_type = 0, bits_ok = 1, extra = 0;
    for (uint32_t t = 0; t < cnt; t++) {
        const uint8_t *e = p + ifd + 2 + 12 * t;
        uint32_t tag = rd16(e, be), type = rd16(e + 2, be), count = rd32(e + 4, be);
        /* bytes of one value of each TIFF field type (0: unknown) */
        static const int sizes[19] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 0, 0, 0, 8, 8, 8};
        int size = type < 19 ? sizes[type] : 0;
        if (!size || !count)
            continue; /* a type no tag kiln reads has, or no values */
        int64_t bytes = (int64_t)count * size;
        int64_t at = bytes <= 4 ? (int64_t)(e + 8 - p) : (int64_t)rd32(e + 8, be);
        if (at + bytes > len)
            return bad(g, n, d, "TIFF", "a tag's values lie outside the input");
        if (bytes > 4 && at + bytes > end)
            end = at + bytes;
        uint32_t v = type == 3 ? rd16(p + at, be) : type == 4 ? rd32(p + at, be) : p[at];
        switch (tag) {
        case 256: w = v; break;
        case 257: h = v; break;
        case 258:
            for (uint32_t k = 0; k < count; k++)
                bits_ok &= (type == 3 ? rd16(p + at + 2 * k, be) : 0) == 8;
            break;
        case 259: comp = v; break;
        case 262: photo = v; break;
        case 273:
            if (type != 3 && type != 4)
                return bad(g, n, d, "TIFF", "StripOffsets must be SHORT or LONG");
            nstrips = count;
            strips_at = at;
            strip_type = type;
            break;
        case 274: orient = v; break;
        case 277: spp = v; break;
        case 278: rps = v; break;
        case 284: planar = v; break;
        case 338: extra = count; break;
        }
    }
    if (comp != 1)
        return bad(g, n, d, "TIFF", "only uncompressed images (Compression 1) are supported");
    if (!bits_ok || planar != 1 || extra || orient != 1 || !((spp == 3 && photo == 2) || (spp == 1 && photo == 1)))
        return bad(g, n, d, "TIFF", "only 8-bit RGB or BlackIsZero gray, chunky, without extra samples, "
                                    "top-left orientation is supported");
    if (w <= 0 || h <= 0 || w > 65535 || h > 65535 || nstrips <= 0)
        return bad(g, n, d, "TIFF", "the width, height or strips are missing or out of range");
    if (rps <= 0 || rps > h)
        rps = h;
    if (nstrips != (h + rps - 1) / rps)
        return bad(g, n, d, "TIFF", "the strip count does not match the rows per strip");
    L->w = w;
    L->h = h;
    L->chans = L->pixel = (int)spp;
    L->bgr = 0;
    L->row = arena_alloc(a, sizeof(int64_t) * (size_t)(h + 1));
    int64_t first = len;
    for (int64_t s = 0; s < nstrips; s++) {
        int64_t so = strip_type == 3 ? rd16(p + strips_at + 2 * s, be) : rd32(p + strips_at + 4 * s, be);
        int64_t rows = s == nstrips - 1 ? h - s * rps : rps;
        if (so < 0 || so > len || rows * w * spp > len - so)
            return bad(g, n, d, "TIFF", "a strip lies outside the input");
        first = so < first ? so : first;
        for (int64_t r = 0; r < rows; r++)
            L->row[s * rps + r] = so + r * w * spp;
    }
    if (first < end)
        return bad(g, n, d, "TIFF", "the pixels come before the end of the directory");
    L->header = end;
    return 0;
}

/* PNG and JPEG: the layout of the image kiln_img_decode makes, pixel
 * after pixel, from the header the runtime's decoder reads. */
static int parse_coded(Arena *a, Graph *g, Node *n, const uint8_t *p, int64_t len, ImgLayout *L, Diag *d)
{
    kiln_img_info im;
    if (kiln_img_info_of(p, len, &im))
        return diag_node(d, g, n, "%s", im.why);
    L->w = im.w;
    L->h = im.h;
    L->chans = L->pixel = im.chans;
    L->bgr = 0;
    L->header = im.header;
    L->scratch = im.scratch;
    rows_even(a, L, 0, im.w * im.chans, 0);
    return 0;
}

/* The formats kiln decodes, for the messages about the others. */
#define KNOWN "BMP, PNM, uncompressed TIFF, PNG and baseline JPEG"

/* The image in bytes p[len]: its layout, or an error naming its format
 * when kiln cannot decode it. */
static int img_parse(Arena *a, Graph *g, Node *n, const uint8_t *p, int64_t len, ImgLayout *L, Diag *d)
{
    static const struct {
        const char *magic;
        int n;
        const char *name;
    } other[] = {
        {"GIF8", 4, "GIF"},
        {"\0\0\0\x0cjP  ", 8, "JPEG 2000"}, {"\xff\x4f\xff\x51", 4, "JPEG 2000"},
    };
    memset(L, 0, sizeof *L);
    if (len >= 2 && p[0] == 'B' && p[1] == 'M')
        return parse_bmp(a, g, n, p, len, L, d);
    if (len >= 3 && p[0] == 'P' && p[1] >= '1' && p[1] <= '7')
        return parse_pnm(a, g, n, p, len, L, d);
    if (len >= 8 && ((p[0] == 'I' && p[1] == 'I' && p[2] == 42 && p[3] == 0) ||
                     (p[0] == 'M' && p[1] == 'M' && p[2] == 0 && p[3] == 42)))
        return parse_tiff(a, g, n, p, len, L, d);
    if ((len >= 4 && !memcmp(p, "\x89PNG", 4)) || (len >= 3 && !memcmp(p, "\xff\xd8\xff", 3)))
        return parse_coded(a, g, n, p, len, L, d);
    if (len >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4))
        return diag_node(d, g, n, "WebP images are not supported (kiln decodes " KNOWN ")");
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (len >= other[i].n && !memcmp(p, other[i].magic, (size_t)other[i].n))
            return diag_node(d, g, n, "%s images are not supported (kiln decodes " KNOWN ")", other[i].name);
    return diag_node(d, g, n, "the image's format is not recognized (kiln decodes " KNOWN ")");
}

/* pixel_format: 0 RGB, 1 BGR, 2 Grayscale. */
static int img_format(Graph *g, Node *n, int *out, Diag *d)
{
    const char *f;
    if (attr_str(g, n, "pixel_format", "RGB", &f, d))
        return 1;
    *out = !strcmp(f, "RGB") ? 0 : !strcmp(f, "BGR") ? 1 : !strcmp(f, "Grayscale") ? 2 : -1;
    if (*out < 0)
        return diag_node(d, g, n, "pixel_format '%s' is not RGB, BGR or Grayscale", f);
    return 0;
}

/* The encoded bytes known now (a constant, or the value kiln check
 * binds), without specializing the input on them. */
static const uint8_t *img_bytes(Graph *g, Node *n, int64_t *len)
{
    const Value *x = op_in(g, n, 0);
    *len = shape_numel(&x->shape);
    return x->kind == VAL_CONST ? x->data : x->kind == VAL_INPUT ? x->known : NULL;
}

int infer_imagedecoder(Graph *g, Node *n, Diag *d)
{
    Value *x = op_in(g, n, 0);
    int fmt;
    int64_t len;
    ImgLayout L;
    if (!x)
        return diag_node(d, g, n, "the first input is required");
    if (x->dtype != DT_U8 || x->shape.rank != 1)
        return diag_node(d, g, n, "the encoded image must be a 1-D u8 tensor");
    if (img_format(g, n, &fmt, d))
        return 1;
    const uint8_t *p = img_bytes(g, n, &len);
    if (!p)
        return diag_node(d, g, n,
                         "the image ('%s') must be known at compile time: its header gives the output's shape "
                         "(kiln check MODEL DATA binds it; the header is then checked on every run)",
                         x->name);
    if (img_parse(g->arena, g, n, p, len, &L, d))
        return 1;
    if (x->kind == VAL_INPUT && x->guard_bytes < L.header)
        x->guard_bytes = L.header;
    Shape s = {3, {L.h, L.w, fmt == 2 ? 1 : 3}};
    op_set_out(g, n, 0, DT_U8, &s);
    return 0;
}

/* PNG, JPEG: kiln_img_decode(bytes, len, cap, npix, scratch, pix, status)
 * into a scratch image pix of the layout's pixels; its buffer. */
static int decode_call(Lower *L, Node *n, const ImgLayout *im, int64_t len)
{
    Arena *a = lw_arena(L);
    Shape ss = {1, {im->scratch}}, ps = {1, {im->h * im->w * im->chans}};
    int scratch = lw_temp(L, arena_printf(a, "%s_scratch", n->name), DT_U8, &ss);
    int pix = lw_temp(L, arena_printf(a, "%s_pixels", n->name), DT_U8, &ps);
    int status = lw_status(L);
    Expr *zero = ke_idx(a, 0);
    Program *p = lw_kb(L)->p;
    Expr *args[7] = {lw_load(L, n->in[0], &zero), ke_idx(a, len), ke_idx(a, im->scratch), ke_idx(a, ps.dim[0]),
                     ke_load(a, p, scratch, zero), ke_load(a, p, pix, zero), ke_load(a, p, status, zero)};
    kb_call(lw_kb(L), "kiln_img_decode", args, 7, 3);
    return pix;
}

/* Sample `at` of the pixels: the input's bytes, or the decoded image. */
static Expr *sample(Lower *L, Node *n, int pix, Expr *at)
{
    return pix < 0 ? lw_load(L, n->in[0], &at) : ke_load(lw_arena(L), lw_kb(L)->p, pix, at);
}

/* y[h, w, c] = bytes[row[h] + w * pixel + sample], the sample chosen by
 * pixel_format and the stored order; Grayscale from RGB by Pillow's
 * weights; a gray image's one sample repeated for RGB and BGR. */
int lower_imagedecoder(Lower *L, Node *n)
{
    Diag d = lw_diag(L);
    Graph *g = lw_graph(L);
    Arena *a = lw_arena(L);
    KB *b = lw_kb(L);
    int fmt;
    int64_t len;
    ImgLayout im;
    const uint8_t *p = img_bytes(g, n, &len);
    if (img_format(g, n, &fmt, &d) || !p || img_parse(a, g, n, p, len, &im, &d))
        return lw_error(L, n, "the image's header");
    int pix = im.scratch ? decode_call(L, n, &im, len) : -1;
    Shape rs = {1, {im.h}};
    int rows = lw_const(L, "row", DT_I64, &rs, im.row);
    const Shape *ys = &lw_out(L, n, 0)->shape;
    Expr *c[3];
    lw_loops(L, ys, "hwc", c);
    Expr *base = ke_bin(a, B_ADD, ke_cast(a, DT_INDEX, ke_load(a, b->p, rows, c[0])),
                        ke_bin(a, B_MUL, c[1], ke_idx(a, im.pixel)));
    Expr *v;
    if (im.chans == 1) {
        v = sample(L, n, pix, base);
    } else if (fmt == 2) {
        /* Pillow's L24: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 */
        static const int wt[3] = {19595, 38470, 7471};
        Expr *sum = ke_int(a, DT_U32, 0x8000);
        for (int k = 0; k < 3; k++) {
            Expr *at = ke_bin(a, B_ADD, base, ke_idx(a, im.bgr ? 2 - k : k));
            Expr *s = ke_cast(a, DT_U32, sample(L, n, pix, at));
            sum = ke_bin(a, B_ADD, sum, ke_bin(a, B_MUL, s, ke_int(a, DT_U32, wt[k])));
        }
        v = ke_cast(a, DT_U8, ke_bin(a, B_SHR, sum, ke_int(a, DT_U32, 16)));
    } else {
        /* sample c of the output's order in the stored order */
        Expr *k = (fmt == 1) != im.bgr ? ke_bin(a, B_SUB, ke_idx(a, 2), c[2]) : c[2];
        v = sample(L, n, pix, ke_bin(a, B_ADD, base, k));
    }
    lw_store(L, n, 0, c, v);
    lw_end_loops(L, ys);
    return 0;
}
