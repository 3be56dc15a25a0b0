/*
 * kiln_img.c: the PNG and baseline JPEG decoder of kiln_img.h.
 *
 * Built into every model program and library that decodes such an image,
 * and into kiln itself (which reads the header with kiln_img_info_of when
 * it compiles the model). The decoders' state (Huffman tables, quantizers)
 * lives at the start of the caller's scratch, then their buffers: the
 * concatenated IDAT data and the filtered rows (PNG), the components'
 * sample planes, padded to whole MCUs (JPEG).
 *
 * Every read of the input goes through a check of its position against
 * len; every write into scratch or pix stays inside the sizes the header
 * gave, which the decode checks against cap and npix first. The work is
 * bounded: inflate stops when its output is full or its input ends, and
 * the JPEG scan decodes a fixed number of blocks, each of at most 64
 * Huffman symbols of at most 16 bits.
 */
#include "kiln_img.h"

#include <string.h>

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* x >> n rounding down, for negative x too (libjpeg's RIGHT_SHIFT). */
static int64_t shr(int64_t x, int n) { return x >= 0 ? x >> n : -((-x - 1) >> n) - 1; }

static uint8_t clamp255(int64_t v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* The state at the start of scratch, 16-byte aligned; NULL when it does
 * not fit in cap bytes. */
static void *state_at(uint8_t *scratch, ptrdiff_t cap, size_t size)
{
    size_t pad = (size_t)(-(uintptr_t)scratch & 15);
    if (cap < 0 || (size_t)cap < pad + size)
        return NULL;
    return scratch + pad;
}

static int64_t state_bytes(size_t size) { return (int64_t)size + 16; }

/* ------------------------------------------------------------- Huffman */

/* A canonical Huffman code (deflate's and JPEG's are both): count[l]
 * codes of l bits, their symbols in code order. */
typedef struct Huff {
    int16_t count[17];
    int16_t sym[288];
} Huff;

/* Build h from the code lengths len[0 .. n) (0: symbol unused). 0, or 1
 * when the lengths over-subscribe the code. */
static int huff_lengths(Huff *h, const uint8_t *len, int n)
{
    int16_t offs[17];
    memset(h->count, 0, sizeof h->count);
    for (int s = 0; s < n; s++)
        h->count[len[s]]++;
    h->count[0] = 0;
    int left = 1;
    for (int l = 1; l <= 16; l++) {
        left = 2 * left - h->count[l];
        if (left < 0)
            return 1;
    }
    offs[1] = 0;
    for (int l = 1; l < 16; l++)
        offs[l + 1] = (int16_t)(offs[l] + h->count[l]);
    for (int s = 0; s < n; s++)
        if (len[s])
            h->sym[offs[len[s]]++] = (int16_t)s;
    return 0;
}

/* The next symbol of code h, its bits from bit(src) first bit first; -1
 * when no code matches. At most 16 bits are read. */
static int huff_decode(const Huff *h, int (*bit)(void *), void *src)
{
    int code = 0, first = 0, index = 0;
    for (int l = 1; l <= 16; l++) {
        code |= bit(src);
        int count = h->count[l];
        if (code - first < count)
            return h->sym[index + code - first];
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    return -1;
}

/* ------------------------------------------------------------- inflate */

/* Bits of p[pos .. len): deflate's least significant first (zbit), a JPEG
 * scan's most significant first (jbit); past the data, zeros, and `over`
 * set. */
typedef struct Bits {
    const uint8_t *p;
    int64_t len, pos;
    uint32_t buf;
    int cnt;
    int over;
} Bits;

static int zbit(void *v)
{
    Bits *b = v;
    if (!b->cnt) {
        if (b->pos >= b->len) {
            b->over = 1;
            return 0;
        }
        b->buf = b->p[b->pos++];
        b->cnt = 8;
    }
    int r = (int)(b->buf & 1);
    b->buf >>= 1;
    b->cnt--;
    return r;
}

static uint32_t zbits(Bits *b, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint32_t)zbit(b) << i;
    return v;
}

typedef struct PngState {
    Huff lit, dist;
    uint8_t lens[320];
} PngState;

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                       193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

/* The dynamic block's code lengths into s->lit and s->dist. */
static int inflate_dynamic(Bits *b, PngState *s)
{
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    int nlen = (int)zbits(b, 5) + 257, ndist = (int)zbits(b, 5) + 1, ncode = (int)zbits(b, 4) + 4;
    if (nlen > 286 || ndist > 30)
        return 1;
    memset(s->lens, 0, sizeof s->lens);
    for (int i = 0; i < ncode; i++)
        s->lens[order[i]] = (uint8_t)zbits(b, 3);
    if (huff_lengths(&s->lit, s->lens, 19))
        return 1;
    for (int i = 0; i < nlen + ndist;) {
        int sym = huff_decode(&s->lit, zbit, b), rep, val = 0;
        if (sym < 0 || b->over)
            return 1;
        if (sym < 16) {
            s->lens[i++] = (uint8_t)sym;
            continue;
        }
        if (sym == 16) {
            if (!i)
                return 1;
            val = s->lens[i - 1];
            rep = 3 + (int)zbits(b, 2);
        } else {
            rep = sym == 17 ? 3 + (int)zbits(b, 3) : 11 + (int)zbits(b, 7);
        }
        if (i + rep > nlen + ndist)
            return 1;
        while (rep--)
            s->lens[i++] = (uint8_t)val;
    }
    if (!s->lens[256])
        return 1;
    return huff_lengths(&s->lit, s->lens, nlen) || huff_lengths(&s->dist, s->lens + nlen, ndist);
}

/* Inflate the deflate stream in b into out[0 .. cap): 0 and *n bytes
 * made, or 1 on corrupt data. */
static int inflate(Bits *b, PngState *s, uint8_t *out, int64_t cap, int64_t *n)
{
    int64_t at = 0;
    int last;
    do {
        last = (int)zbits(b, 1);
        int type = (int)zbits(b, 2);
        if (b->over || type == 3)
            return 1;
        if (type == 0) {
            b->cnt = 0; /* to a byte boundary */
            if (b->len - b->pos < 4)
                return 1;
            uint32_t len = (uint32_t)b->p[b->pos] | (uint32_t)b->p[b->pos + 1] << 8;
            uint32_t nlen = (uint32_t)b->p[b->pos + 2] | (uint32_t)b->p[b->pos + 3] << 8;
            b->pos += 4;
            if (len != (~nlen & 0xffff) || len > b->len - b->pos || len > cap - at)
                return 1;
            memcpy(out + at, b->p + b->pos, len);
            b->pos += len;
            at += len;
            continue;
        }
        if (type == 1) {
            for (int i = 0; i < 288; i++)
                s->lens[i] = (uint8_t)(i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8);
            for (int i = 0; i < 30; i++)
                s->lens[288 + i] = 5;
            if (huff_lengths(&s->lit, s->lens, 288) || huff_lengths(&s->dist, s->lens + 288, 30))
                return 1;
        } else if (inflate_dynamic(b, s)) {
            return 1;
        }
        for (;;) {
            int sym = huff_decode(&s->lit, zbit, b);
            if (sym < 0 || b->over)
                return 1;
            if (sym < 256) {
                if (at >= cap)
                    return 1;
                out[at++] = (uint8_t)sym;
                continue;
            }
            if (sym == 256)
                break;
            sym -= 257;
            if (sym >= 29)
                return 1;
            int64_t len = len_base[sym] + zbits(b, len_extra[sym]);
            int d = huff_decode(&s->dist, zbit, b);
            if (d < 0 || d >= 30 || b->over)
                return 1;
            int64_t dist = dist_base[d] + zbits(b, dist_extra[d]);
            if (b->over || dist > at || len > cap - at)
                return 1;
            for (int64_t i = 0; i < len; i++, at++)
                out[at] = out[at - dist];
        }
    } while (!last);
    *n = at;
    return 0;
}

/* ----------------------------------------------------------------- PNG */

static int png_bpp(int color) { return color == 0 ? 1 : color == 2 ? 3 : color == 4 ? 2 : color == 6 ? 4 : 0; }

static int png_info(const uint8_t *p, int64_t len, kiln_img_info *out)
{
    if (len < 33 || be32(p + 8) != 13 || memcmp(p + 12, "IHDR", 4)) {
        out->why = "the PNG header (IHDR) is missing or truncated";
        return 1;
    }
    uint32_t w = be32(p + 16), h = be32(p + 20);
    int depth = p[24], color = p[25];
    if (!w || !h || w > 65535 || h > 65535) {
        out->why = "the PNG's width or height is out of range (1 to 65535)";
        return 1;
    }
    if (depth != 8 || !png_bpp(color)) {
        out->why = "only 8-bit gray, gray+alpha, RGB and RGBA PNGs are supported (not palette or 16-bit)";
        return 1;
    }
    if (p[26] || p[27] || p[28]) {
        out->why = p[28] ? "interlaced PNGs are not supported" : "the PNG's compression or filter method is unknown";
        return 1;
    }
    out->format = KILN_IMG_PNG;
    out->w = w;
    out->h = h;
    out->chans = color == 0 || color == 4 ? 1 : 3;
    out->header = 33;
    out->scratch = state_bytes(sizeof(PngState)) + len + (int64_t)h * (1 + (int64_t)w * png_bpp(color));
    return 0;
}

static uint32_t crc32_of(const uint8_t *p, int64_t n)
{
    uint32_t c = 0xffffffffu;
    for (int64_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p, pc = p > c ? p - c : c - p;
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Undo the filters of h rows of `stride` bytes (after each one's filter
 * byte) in place. */
static int png_unfilter(uint8_t *raw, int64_t h, int64_t stride, int bpp)
{
    for (int64_t y = 0; y < h; y++) {
        uint8_t *row = raw + y * (stride + 1) + 1, *up = y ? row - stride - 1 : NULL;
        int f = row[-1];
        for (int64_t x = 0; x < stride; x++) {
            int a = x >= bpp ? row[x - bpp] : 0, b = up ? up[x] : 0, c = up && x >= bpp ? up[x - bpp] : 0;
            switch (f) {
            case 0: break;
            case 1: row[x] = (uint8_t)(row[x] + a); break;
            case 2: row[x] = (uint8_t)(row[x] + b); break;
            case 3: row[x] = (uint8_t)(row[x] + ((a + b) >> 1)); break;
            case 4: row[x] = (uint8_t)(row[x] + paeth(a, b, c)); break;
            default: return 1;
            }
        }
    }
    return 0;
}

static int png_decode(const uint8_t *p, int64_t len, const kiln_img_info *im, uint8_t *scratch, ptrdiff_t cap,
                      uint8_t *pix)
{
    PngState *s = state_at(scratch, cap, sizeof *s);
    int bpp = png_bpp(p[25]);
    int64_t stride = im->w * bpp, rawn = im->h * (stride + 1), n = 0, got;
    if (!s)
        return 1;
    uint8_t *idat = (uint8_t *)(s + 1), *raw = idat + len;
    /* the chunks: IDATs concatenated, each chunk's CRC checked */
    for (int64_t at = 8;;) {
        if (len - at < 12)
            return 1;
        uint32_t clen = be32(p + at);
        if (clen > len - at - 12 || crc32_of(p + at + 4, 4 + (int64_t)clen) != be32(p + at + 8 + clen))
            return 1;
        if (!memcmp(p + at + 4, "IDAT", 4)) {
            memcpy(idat + n, p + at + 8, clen);
            n += clen;
        }
        if (!memcmp(p + at + 4, "IEND", 4))
            break;
        at += 12 + (int64_t)clen;
    }
    /* the zlib stream: its header, deflate data, the Adler-32 of the rows */
    if (n < 6 || (idat[0] & 15) != 8 || (idat[0] >> 4) > 7 || (idat[0] << 8 | idat[1]) % 31 || idat[1] & 32)
        return 1;
    Bits b = {idat, n, 2, 0, 0, 0};
    if (inflate(&b, s, raw, rawn, &got) || got != rawn || n - b.pos < 4)
        return 1;
    uint32_t s1 = 1, s2 = 0;
    for (int64_t i = 0; i < rawn; i++) {
        s1 = (s1 + raw[i]) % 65521;
        s2 = (s2 + s1) % 65521;
    }
    if ((s2 << 16 | s1) != be32(idat + b.pos))
        return 1;
    if (png_unfilter(raw, im->h, stride, bpp))
        return 1;
    /* the color or gray samples, alpha dropped */
    for (int64_t y = 0; y < im->h; y++)
        for (int64_t x = 0; x < im->w; x++)
            for (int c = 0; c < im->chans; c++)
                pix[(y * im->w + x) * im->chans + c] = raw[y * (stride + 1) + 1 + x * bpp + c];
    return 0;
}

/* ---------------------------------------------------------------- JPEG */

typedef struct JComp {
    int id, h, v;       /* component id, sampling factors */
    int tq, td, ta;     /* quantizer, DC and AC table */
    int64_t bw, bh;     /* sample plane: pixels, padded to whole MCUs */
    int64_t cw, ch;     /* samples the image has (libjpeg's downsampled size) */
    int64_t plane;      /* offset of its plane in the scratch after the state */
} JComp;

typedef struct Jpeg {
    int64_t w, h;
    int ncomp, hmax, vmax;
    JComp comp[3];
    int64_t mcux, mcuy;   /* MCUs across and down */
    int64_t restart;      /* MCUs between restart markers, 0: none */
    int64_t data;         /* offset of the entropy-coded data */
    uint16_t q[4][64];    /* quantizers, natural order */
    Huff dc[4], ac[4];
    int qok[4], dcok[4], acok[4];
    int adobe, adobe_tf;  /* an Adobe APP14 marker, its transform */
    int32_t coef[64];
} Jpeg;

static const uint8_t zigzag[64] = {0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
                                   12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
                                   35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
                                   58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

static int jfail(const char **why, const char *msg)
{
    *why = msg;
    return 1;
}

/* Segment DQT or DHT at s[0 .. n). */
static int jpeg_tables(Jpeg *j, int marker, const uint8_t *s, int64_t n)
{
    while (n > 0) {
        int t = s[0] & 15, kind = s[0] >> 4;
        if (t > 3)
            return 1;
        if (marker == 0xdb) {
            int64_t need = 1 + 64 * (kind ? 2 : 1);
            if (kind > 1 || n < need)
                return 1;
            for (int k = 0; k < 64; k++)
                j->q[t][zigzag[k]] = (uint16_t)(kind ? be16(s + 1 + 2 * k) : s[1 + k]);
            j->qok[t] = 1;
            s += need;
            n -= need;
        } else {
            if (kind > 1 || n < 17)
                return 1;
            Huff *h = kind ? &j->ac[t] : &j->dc[t];
            int total = 0;
            h->count[0] = 0;
            for (int l = 1; l <= 16; l++)
                total += h->count[l] = s[l];
            if (total > 256 || n < 17 + total)
                return 1;
            int left = 1;
            for (int l = 1; l <= 16; l++)
                if ((left = 2 * left - h->count[l]) < 0)
                    return 1;
            for (int i = 0; i < total; i++)
                h->sym[i] = s[17 + i];
            *(kind ? &j->acok[t] : &j->dcok[t]) = 1;
            s += 17 + total;
            n -= 17 + total;
        }
    }
    return 0;
}

/* Segment SOF0/SOF1 at s[0 .. n). */
static int jpeg_frame(Jpeg *j, const uint8_t *s, int64_t n, const char **why)
{
    if (n < 6 || s[0] != 8)
        return jfail(why, "only 8-bit JPEGs are supported");
    j->h = be16(s + 1);
    j->w = be16(s + 3);
    j->ncomp = s[5];
    if (!j->w || !j->h)
        return jfail(why, "the JPEG's width or height is 0");
    if (j->ncomp != 1 && j->ncomp != 3)
        return jfail(why, "only gray and YCbCr JPEGs (1 or 3 components) are supported");
    if (n < 6 + 3 * j->ncomp)
        return jfail(why, "the JPEG's frame header is truncated");
    for (int c = 0; c < j->ncomp; c++) {
        JComp *k = &j->comp[c];
        k->id = s[6 + 3 * c];
        k->h = s[7 + 3 * c] >> 4;
        k->v = s[7 + 3 * c] & 15;
        k->tq = s[8 + 3 * c];
        if (k->h < 1 || k->h > 4 || k->v < 1 || k->v > 4 || k->tq > 3)
            return jfail(why, "a JPEG component's sampling or quantizer is out of range");
    }
    if (j->ncomp == 1)
        j->comp[0].h = j->comp[0].v = 1; /* one component: one block an MCU */
    return 0;
}

/* The layout the frame gives: MCUs, planes, the supported samplings. */
static int jpeg_layout(Jpeg *j, const char **why)
{
    j->hmax = j->vmax = 1;
    for (int c = 0; c < j->ncomp; c++) {
        j->hmax = j->comp[c].h > j->hmax ? j->comp[c].h : j->hmax;
        j->vmax = j->comp[c].v > j->vmax ? j->comp[c].v : j->vmax;
    }
    if (j->ncomp == 3) {
        const JComp *y = &j->comp[0], *cb = &j->comp[1], *cr = &j->comp[2];
        int sx = y->h / cb->h, sy = y->v / cb->v;
        if (y->h != j->hmax || y->v != j->vmax || cb->h != cr->h || cb->v != cr->v || y->h % cb->h ||
            y->v % cb->v || !((sx == 1 && sy == 1) || (sx == 2 && sy == 1) || (sx == 2 && sy == 2)))
            return jfail(why, "only JPEG chroma subsampling 4:4:4, 4:2:2 and 4:2:0 is supported");
    }
    j->mcux = (j->w + 8 * j->hmax - 1) / (8 * j->hmax);
    j->mcuy = (j->h + 8 * j->vmax - 1) / (8 * j->vmax);
    int64_t at = 0;
    for (int c = 0; c < j->ncomp; c++) {
        JComp *k = &j->comp[c];
        k->bw = j->mcux * k->h * 8;
        k->bh = j->mcuy * k->v * 8;
        k->cw = (j->w * k->h + j->hmax - 1) / j->hmax;
        k->ch = (j->h * k->v + j->vmax - 1) / j->vmax;
        k->plane = at;
        at += k->bw * k->bh;
    }
    return 0;
}

/* The markers before the scan: tables, frame, restart interval, the scan
 * header. 0 with j->data the scan's first byte, or 1 with *why. */
static int jpeg_parse(const uint8_t *p, int64_t len, Jpeg *j, const char **why)
{
    int frame = 0;
    memset(j, 0, sizeof *j);
    if (len < 4 || p[0] != 0xff || p[1] != 0xd8)
        return jfail(why, "not a JPEG (no SOI marker)");
    for (int64_t at = 2;;) {
        while (at < len && p[at] == 0xff && at + 1 < len && p[at + 1] == 0xff)
            at++; /* fill bytes */
        if (len - at < 4 || p[at] != 0xff)
            return jfail(why, "the JPEG's markers are truncated or malformed before the scan");
        int m = p[at + 1];
        int64_t n = be16(p + at + 2);
        if (m == 0xd8 || m == 0xd9 || m == 0x01 || (m >= 0xd0 && m <= 0xd7) || n < 2 || n > len - at - 2)
            return jfail(why, "the JPEG's markers are truncated or malformed before the scan");
        const uint8_t *s = p + at + 4;
        n -= 2;
        if (m == 0xc0 || m == 0xc1) {
            if (frame++ || jpeg_frame(j, s, n, why))
                return frame > 1 ? jfail(why, "the JPEG has two frame headers") : 1;
        } else if (m >= 0xc2 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            return jfail(why, "only baseline (Huffman, sequential) JPEGs are supported, not progressive, "
                              "lossless or arithmetic-coded ones");
        } else if (m == 0xdb || m == 0xc4) {
            if (jpeg_tables(j, m, s, n))
                return jfail(why, "a JPEG quantization or Huffman table is malformed");
        } else if (m == 0xdd) {
            if (n < 2)
                return jfail(why, "the JPEG's restart interval is truncated");
            j->restart = be16(s);
        } else if (m == 0xee && n >= 12 && !memcmp(s, "Adobe", 5)) {
            j->adobe = 1;
            j->adobe_tf = s[11];
        } else if (m == 0xda) {
            if (!frame)
                return jfail(why, "the JPEG's scan comes before its frame header");
            if (n < 1 || s[0] != j->ncomp || n < 4 + 2 * j->ncomp)
                return jfail(why, "only JPEGs with one scan of every component are supported");
            for (int c = 0; c < j->ncomp; c++) {
                JComp *k = &j->comp[c];
                if (s[1 + 2 * c] != k->id)
                    return jfail(why, "the JPEG's scan lists the components in another order than its frame");
                k->td = s[2 + 2 * c] >> 4;
                k->ta = s[2 + 2 * c] & 15;
                if (k->td > 3 || k->ta > 3 || !j->dcok[k->td] || !j->acok[k->ta] || !j->qok[k->tq])
                    return jfail(why, "a JPEG component uses a table the image does not define");
            }
            const uint8_t *e = s + 1 + 2 * j->ncomp;
            if (e[0] != 0 || e[1] != 63 || e[2] != 0)
                return jfail(why, "only baseline (sequential) JPEG scans are supported");
            j->data = at + 4 + n;
            break;
        }
        at += 4 + n;
    }
    if (j->ncomp == 3 && j->adobe && j->adobe_tf != 1)
        return jfail(why, "JPEGs of RGB or CMYK samples (Adobe transform 0) are not supported");
    if (j->ncomp == 3 && !j->adobe && j->comp[0].id == 'R' && j->comp[1].id == 'G' && j->comp[2].id == 'B')
        return jfail(why, "JPEGs of RGB samples are not supported");
    return jpeg_layout(j, why);
}

static int jpeg_info(const uint8_t *p, int64_t len, Jpeg *j, kiln_img_info *out)
{
    if (jpeg_parse(p, len, j, &out->why))
        return 1;
    out->format = KILN_IMG_JPEG;
    out->w = j->w;
    out->h = j->h;
    out->chans = j->ncomp;
    out->header = j->data;
    int64_t planes = 0;
    for (int c = 0; c < j->ncomp; c++)
        planes += j->comp[c].bw * j->comp[c].bh;
    out->scratch = state_bytes(sizeof(Jpeg)) + planes;
    return 0;
}

/* The scan's next bit (Bits): 0xff 0x00 is a 0xff byte; a marker ends
 * the data. */
static int jbit(void *v)
{
    Bits *b = v;
    if (!b->cnt) {
        b->buf = 0;
        if (b->pos < b->len && b->p[b->pos] != 0xff) {
            b->buf = b->p[b->pos++];
        } else if (b->len - b->pos >= 2 && b->p[b->pos + 1] == 0) {
            b->buf = 0xff;
            b->pos += 2;
        } else {
            b->over = 1;
        }
        b->cnt = 8;
    }
    b->cnt--;
    return (int)(b->buf >> b->cnt) & 1;
}

/* s bits as a signed coefficient (JPEG's EXTEND). */
static int32_t jreceive(Bits *b, int s)
{
    int32_t v = 0;
    for (int i = 0; i < s; i++)
        v = v << 1 | jbit(b);
    return s && v < (1 << (s - 1)) ? v - (1 << s) + 1 : v;
}

/* libjpeg's jpeg_idct_islow: the dequantized block coef (natural order)
 * into 8x8 samples at out (rows `stride` apart), its fixed-point
 * arithmetic exactly (CONST_BITS 13, PASS1_BITS 2) and its range limit. */
enum { CB = 13, P1 = 2 };
#define F(x) ((int64_t)(x))
static uint8_t idct_limit(int64_t v)
{
    int64_t i = v & 1023; /* the post-IDCT range-limit table, wrapping as libjpeg's */
    return (uint8_t)(i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896);
}

/* One 8-point pass of jpeg_idct_islow: d[0 .. 8) in, out[] the sums
 * before descaling, in output order. */
static void idct_1d(const int64_t *d, int64_t *out)
{
    int64_t z1 = (d[2] + d[6]) * F(4433), t2 = z1 + d[6] * -F(15137), t3 = z1 + d[2] * F(6270);
    int64_t t0 = (d[0] + d[4]) * (1 << CB), t1 = (d[0] - d[4]) * (1 << CB);
    int64_t t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
    int64_t o0 = d[7], o1 = d[5], o2 = d[3], o3 = d[1];
    int64_t y1 = o0 + o3, y2 = o1 + o2, y3 = o0 + o2, y4 = o1 + o3, y5 = (y3 + y4) * F(9633);
    o0 *= F(2446), o1 *= F(16819), o2 *= F(25172), o3 *= F(12299);
    y1 *= -F(7373), y2 *= -F(20995), y3 *= -F(16069), y4 *= -F(3196);
    y3 += y5, y4 += y5;
    o0 += y1 + y3, o1 += y2 + y4, o2 += y2 + y3, o3 += y1 + y4;
    out[0] = t10 + o3, out[7] = t10 - o3, out[1] = t11 + o2, out[6] = t11 - o2;
    out[2] = t12 + o1, out[5] = t12 - o1, out[3] = t13 + o0, out[4] = t13 - o0;
}

static void idct_islow(const int32_t *coef, const uint16_t *q, uint8_t *out, int64_t stride)
{
    int64_t ws[64], d[8], sum[8];
    /* columns, into ws scaled by 2^PASS1_BITS (a column of zero ACs: its DC) */
    for (int c = 0; c < 8; c++) {
        int zero = 1;
        for (int r = 0; r < 8; r++) {
            d[r] = (int64_t)coef[8 * r + c] * q[8 * r + c];
            zero &= r == 0 || d[r] == 0;
        }
        if (zero) {
            for (int r = 0; r < 8; r++)
                ws[8 * r + c] = d[0] * (1 << P1);
            continue;
        }
        idct_1d(d, sum);
        for (int r = 0; r < 8; r++)
            ws[8 * r + c] = shr(sum[r] + ((int64_t)1 << (CB - P1 - 1)), CB - P1);
    }
    /* rows, into samples */
    for (int r = 0; r < 8; r++) {
        idct_1d(ws + 8 * r, sum);
        for (int c = 0; c < 8; c++)
            out[r * stride + c] = idct_limit(shr(sum[c] + ((int64_t)1 << (CB + P1 + 2)), CB + P1 + 3));
    }
}
#undef F

/* One block of component k: its coefficients from b, *pred its DC
 * predictor, then its samples into the plane at (bx, by) blocks. */
static int jpeg_block(Jpeg *j, Bits *b, const JComp *k, int32_t *pred, uint8_t *plane, int64_t bx, int64_t by)
{
    int32_t *coef = j->coef;
    memset(coef, 0, sizeof j->coef);
    int t = huff_decode(&j->dc[k->td], jbit, b);
    if (t < 0 || t > 11)
        return 1;
    *pred += jreceive(b, t);
    coef[0] = *pred;
    for (int i = 1; i < 64; i++) {
        int rs = huff_decode(&j->ac[k->ta], jbit, b);
        if (rs < 0)
            return 1;
        int r = rs >> 4, s = rs & 15;
        if (!s) {
            if (r != 15)
                break;
            i += 15;
            continue;
        }
        i += r;
        if (i > 63 || s > 10)
            return 1;
        coef[zigzag[i]] = jreceive(b, s);
    }
    idct_islow(coef, j->q[k->tq], plane + by * 8 * k->bw + bx * 8, k->bw);
    return b->over;
}

/* The sample of chroma component k for pixel (x, y): libjpeg's fancy
 * upsampling (h2v1: 3/4 and 1/4 of the nearer and farther sample across;
 * h2v2: the same down, then across, with its rounding), or the sample
 * itself where libjpeg replicates (no subsampling, 2 or fewer columns). */
static int chroma(const JComp *k, const uint8_t *pl, int sx, int sy, int64_t x, int64_t y)
{
    int64_t cx = x / sx, cy = y / sy;
    if (sx == 1)
        return pl[cy * k->bw + cx];
    if (k->cw <= 2)
        return pl[cy * k->bw + cx];
    int64_t nx = x & 1 ? cx + 1 : cx - 1; /* the farther column across */
    int edge = nx < 0 || nx >= k->cw;
    if (sy == 1) {
        const uint8_t *row = pl + cy * k->bw;
        if (edge)
            return row[cx];
        return (3 * row[cx] + row[nx] + (x & 1 ? 2 : 1)) >> 2;
    }
    int64_t ny = y & 1 ? cy + 1 : cy - 1; /* the farther row down: rows replicate at the edges */
    ny = ny < 0 ? 0 : ny >= k->ch ? k->ch - 1 : ny;
    int this = 3 * pl[cy * k->bw + cx] + pl[ny * k->bw + cx];
    if (edge)
        return (this * 4 + (x & 1 ? 7 : 8)) >> 4;
    int other = 3 * pl[cy * k->bw + nx] + pl[ny * k->bw + nx];
    return (3 * this + other + (x & 1 ? 7 : 8)) >> 4;
}

/* The scan of the image j describes (parsed from p[0 .. len)) into the
 * component planes, then its pixels into pix: RGB or gray. */
static int jpeg_decode(const uint8_t *p, int64_t len, Jpeg *j, uint8_t *planes, uint8_t *pix)
{
    Bits b = {p, len, j->data, 0, 0, 0};
    int32_t pred[3] = {0, 0, 0};
    int64_t nmcu = j->mcux * j->mcuy;
    for (int64_t m = 0; m < nmcu; m++) {
        if (j->restart && m && m % j->restart == 0) {
            /* a restart marker: the bits to a byte boundary dropped, the
             * predictors reset */
            b.cnt = 0;
            if (b.len - b.pos < 2 || b.p[b.pos] != 0xff || b.p[b.pos + 1] != 0xd0 + (m / j->restart - 1) % 8)
                return 1;
            b.pos += 2;
            pred[0] = pred[1] = pred[2] = 0;
        }
        int64_t mx = m % j->mcux, my = m / j->mcux;
        for (int c = 0; c < j->ncomp; c++) {
            const JComp *k = &j->comp[c];
            for (int v = 0; v < k->v; v++)
                for (int h = 0; h < k->h; h++)
                    if (jpeg_block(j, &b, k, &pred[c], planes + k->plane, mx * k->h + h, my * k->v + v))
                        return 1;
        }
    }
    const JComp *y = &j->comp[0];
    for (int64_t r = 0; r < j->h; r++)
        for (int64_t x = 0; x < j->w; x++) {
            int64_t Y = planes[r * y->bw + x];
            uint8_t *o = pix + (r * j->w + x) * j->ncomp;
            if (j->ncomp == 1) {
                o[0] = (uint8_t)Y;
                continue;
            }
            const JComp *kb = &j->comp[1], *kr = &j->comp[2];
            int sx = j->hmax / kb->h, sy = j->vmax / kb->v;
            int64_t cb = chroma(kb, planes + kb->plane, sx, sy, x, r) - 128;
            int64_t cr = chroma(kr, planes + kr->plane, sx, sy, x, r) - 128;
            /* libjpeg's ycc_rgb_convert: FIX(1.402), FIX(0.34414),
             * FIX(0.71414), FIX(1.772) in 16-bit fixed point */
            o[0] = clamp255(Y + shr(91881 * cr + 32768, 16));
            o[1] = clamp255(Y + shr(-22554 * cb + 32768 - 46802 * cr, 16));
            o[2] = clamp255(Y + shr(116130 * cb + 32768, 16));
        }
    return 0;
}

/* ---------------------------------------------------------------- API */

int kiln_img_info_of(const uint8_t *p, int64_t len, kiln_img_info *out)
{
    memset(out, 0, sizeof *out);
    if (len >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8))
        return png_info(p, len, out);
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
        Jpeg j; /* on the stack: kiln's own call, never the generated code's */
        return jpeg_info(p, len, &j, out);
    }
    out->why = "not a PNG or JPEG image";
    return 1;
}

void kiln_img_decode(const uint8_t *p, ptrdiff_t len, ptrdiff_t cap, ptrdiff_t npix, uint8_t *scratch, uint8_t *pix,
                     int64_t *status)
{
    int bad = 1;
    if (len >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) {
        kiln_img_info im;
        bad = png_info(p, len, &im) || im.w * im.h * im.chans != npix || im.scratch > cap ||
              png_decode(p, len, &im, scratch, cap, pix);
    } else if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
        Jpeg *j = state_at(scratch, cap, sizeof *j);
        kiln_img_info im;
        bad = !j || jpeg_info(p, len, j, &im) || im.w * im.h * im.chans != npix || im.scratch > cap ||
              jpeg_decode(p, len, j, (uint8_t *)(j + 1), pix);
    }
    if (bad) {
        memset(pix, 0, (size_t)(npix > 0 ? npix : 0));
        *status = 1;
    }
}
