/*
 * winograd.c: a 3x3, stride-1 Conv as Winograd's F(2x2, 3x3).
 *
 * Each 2x2 tile of outputs comes from a 4x4 tile of inputs d through
 *
 *     Y = A^T [ sum_c (G g_mc G^T) .* (B^T d_c B) ] A
 *
 * 16 multiplications per tile, channel and output channel where the
 * direct loop nest does 36: the work of the product stage is 4/9 of the
 * direct convolution's. The lowering writes three loop nests:
 *
 *     V[e, t, c]  = (B^T d(ty, tx, c) B)[e]        input transform
 *     P[e, t, m]  = sum_c V[e, t, c] * U[e, c, m]  16 matrix products
 *     y[m, 2ty+i, 2tx+j] = (A^T P[., t, m] A)[i, j] + b[m]   output transform
 *
 * U = G g G^T is computed here from the constant weights, once, at compile
 * time. The products are an ordinary contraction (batch e, rows t,
 * columns m, reduction c): contract.c register-blocks them and packs U like
 * any weight, and the transforms are data-parallel over channels, which the
 * scheduler vectorizes. How the nests walk the tiles t depends on U's
 * size against the L2 cache (Graph.winograd holds its bytes):
 *
 *   - U in half of it: the three nests run per row of tiles (ty), over
 *     scratch holding one row (lw_local: private to an iteration of ty, on
 *     the stack of the thread that runs it, and in cache), so ty is a
 *     data-parallel loop like any output loop;
 *   - U larger: row by row would stream U from memory once per row, so
 *     each nest covers every tile (scratch in the arena: [16, tiles, C]
 *     and [16, tiles, M]) and U is read once; the products are then
 *     parallel over e, each thread reading its share of U. This pays
 *     only with enough tiles (WINO_MIN_TILES); below that the direct
 *     kernel, whose weights are 9/16 of U, keeps the Conv.
 *
 * An odd output size is covered by whole tiles: the last row or column of
 * tiles reads one more row or column of zero padding (conv.c's padded
 * copy) and stores only the outputs that exist. Nothing here is specific
 * to a machine but the cache size; whether a Conv takes this path is
 * decided by the compile (a CPU target with wide vectors and FMA,
 * optimizing) and by the shape (conv_winograd_fits).
 * Rounding: the transforms add and subtract values before the products
 * (halves in G), so results differ from the direct sum in the last bits,
 * as every Winograd convolution's do.
 */
#include "op.h"

#include <stdio.h>

/* The least channels on either side for which the transforms pay. */
enum { WINO_MIN_CHANNELS = 8 };

/* The least 2x2 tiles for which U, larger than the cache, pays: each of its
 * elements (4 bytes, 16/9 as many as the direct kernel's weights) serves
 * 2 flops per tile, and a machine of ~100 GFLOP/s a core over ~20 GB/s of
 * memory (../shared/MACHINE.md) needs some 10 flops a byte not to wait
 * for it. ResNet-18's 7x7 layers (16 tiles, 512 channels): 2.48 ms per
 * Conv against the direct kernel's 2.24; its 14x14 ones (49 tiles, 256):
 * 1.03 against 1.62. */
enum { WINO_MIN_TILES = 32 };

/* Does U, the transformed weights, stay in half the L2 cache (l2 bytes)? */
static int u_cached(int64_t C, int64_t M, int64_t l2)
{
    return (int64_t)16 * C * M * (int64_t)sizeof(float) <= l2 / 2;
}

int conv_winograd_fits(Lower *L, Node *n, int64_t N, int64_t C, int64_t M, int64_t group, const Window *w)
{
    Graph *g = lw_graph(L);
    const Value *x = lw_in(L, n, 0);
    if (!g->winograd || w->rank != 2 || N != 1 || group != 1 || x->dtype != DT_F32 || C < WINO_MIN_CHANNELS ||
        M < WINO_MIN_CHANNELS || !op_const_data(g, n, 1))
        return 0;
    for (int i = 0; i < 2; i++)
        if (w->k[i] != 3 || w->s[i] != 1 || w->d[i] != 1 || w->out[i] < 4)
            return 0;
    return u_cached(C, M, g->winograd) || ((w->out[0] + 1) / 2) * ((w->out[1] + 1) / 2) >= WINO_MIN_TILES;
}

/* U[e, c, m] = (G g G^T)[e] for g = w[m, c, :, :], as f32. */
static int transformed_weights(Lower *L, Node *n, int64_t C, int64_t M)
{
    const float *wt = op_const_data(lw_graph(L), n, 1);
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    size_t count = (size_t)16 * (size_t)C * (size_t)M;
    float *u = arena_alloc(lw_arena(L), sizeof(float) * count);
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++) {
            const float *k = wt + (m * C + c) * 9;
            double gg[4][3];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++)
                    gg[i][j] = G[i][0] * k[0 * 3 + j] + G[i][1] * k[1 * 3 + j] + G[i][2] * k[2 * 3 + j];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    u[((size_t)(i * 4 + j) * (size_t)C + (size_t)c) * (size_t)M + (size_t)m] =
                        (float)(gg[i][0] * G[j][0] + gg[i][1] * G[j][1] + gg[i][2] * G[j][2]);
        }
    Shape s = {3, {16, C, M}};
    return lw_const(L, "winograd_u", DT_F32, &s, u);
}

static Expr *add(Arena *a, Expr *x, Expr *y) { return ke_bin(a, B_ADD, x, y); }
static Expr *sub(Arena *a, Expr *x, Expr *y) { return ke_bin(a, B_SUB, x, y); }

/* Each of the n values as a local (names p0, p1, ...). */
static void lets(KB *b, const char *p, Expr **e, int n)
{
    char name[8];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s%d", p, i);
        e[i] = kb_v(b, kb_let(b, name, e[i]));
    }
}

/* Where a tile's values live in the V and P scratch: [16, tiles, channels],
 * tile (ty, tx) at ty * TX + tx when the scratch holds every tile, at tx
 * when it holds one row of them. */
typedef struct Tiles {
    int64_t TY, TX;
    int whole;     /* the scratch holds every tile (else one row) */
    int V, P, u;   /* buffers: transformed inputs, products, weights */
} Tiles;

static Expr *tile_at(Arena *a, const Tiles *t, Expr *ty, Expr *tx)
{
    return t->whole ? ke_bin(a, B_ADD, ke_bin(a, B_MUL, ty, ke_idx(a, t->TX)), tx) : tx;
}

/* V[e, tile(ty, tx), c] = (B^T d B)[e], d the 4x4 input tile at (2ty, 2tx),
 * for every tx and c of row ty. */
static void input_transform(Lower *L, Node *n, const Window *w, int xp, int64_t C, const Tiles *tl, Expr *ty)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    Expr *zero = ke_idx(a, 0);
    Expr *tx = kb_v(b, kb_for_k(b, "tx", tl->TX, IT_DATA));
    Expr *c = kb_v(b, kb_for_k(b, "c", C, IT_DATA));
    Expr *d[16], *t[16], *v[16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            Expr *ix[4] = {zero, c,
                           ke_bin(a, B_ADD, ke_bin(a, B_MUL, ty, ke_idx(a, 2)), ke_idx(a, i - w->p0[0])),
                           ke_bin(a, B_ADD, ke_bin(a, B_MUL, tx, ke_idx(a, 2)), ke_idx(a, j - w->p0[1]))};
            d[i * 4 + j] = xp >= 0 ? lw_load_temp(L, xp, ix) : lw_load(L, n->in[0], ix);
        }
    lets(b, "d", d, 16);
    for (int j = 0; j < 4; j++) {
        t[0 * 4 + j] = sub(a, d[0 * 4 + j], d[2 * 4 + j]);
        t[1 * 4 + j] = add(a, d[1 * 4 + j], d[2 * 4 + j]);
        t[2 * 4 + j] = sub(a, d[2 * 4 + j], d[1 * 4 + j]);
        t[3 * 4 + j] = sub(a, d[1 * 4 + j], d[3 * 4 + j]);
    }
    lets(b, "t", t, 16);
    for (int i = 0; i < 4; i++) {
        v[i * 4 + 0] = sub(a, t[i * 4 + 0], t[i * 4 + 2]);
        v[i * 4 + 1] = add(a, t[i * 4 + 1], t[i * 4 + 2]);
        v[i * 4 + 2] = sub(a, t[i * 4 + 2], t[i * 4 + 1]);
        v[i * 4 + 3] = sub(a, t[i * 4 + 1], t[i * 4 + 3]);
    }
    Expr *tile = tile_at(a, tl, ty, tx);
    for (int e = 0; e < 16; e++) {
        Expr *vc[3] = {ke_idx(a, e), tile, c};
        lw_store_temp(L, tl->V, vc, v[e]);
    }
    kb_end(b);
    kb_end(b);
}

/* P[e, t, m] = sum_c V[e, t, c] * U[e, c, m] over `tiles` tiles: 16
 * matrix products, which contract.c blocks like any contraction. */
static void products(Lower *L, int64_t C, int64_t M, const Tiles *tl, int64_t tiles)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    Expr *e = kb_v(b, kb_for_k(b, "e", 16, IT_DATA));
    Expr *t = kb_v(b, kb_for_k(b, "t", tiles, IT_DATA));
    Expr *m = kb_v(b, kb_for_k(b, "m", M, IT_DATA));
    int acc = kb_let(b, "acc", ke_const(a, DT_F32, 0));
    Expr *c = kb_v(b, kb_for_k(b, "c", C, IT_REDUCE));
    Expr *vi[3] = {e, t, c};
    Expr *ui[3] = {e, c, m};
    kb_assign(b, acc, add(a, kb_v(b, acc), ke_bin(a, B_MUL, lw_load_temp(L, tl->V, vi), lw_load_temp(L, tl->u, ui))));
    kb_end(b);
    Expr *pi[3] = {e, t, m};
    lw_store_temp(L, tl->P, pi, kb_v(b, acc));
    kb_end(b);
    kb_end(b);
    kb_end(b);
}

/* y[m, 2ty + i, 2tx + j] = (A^T P A)[i, j] + b[m] for every tx and m of
 * row ty, within the Conv's own output sizes out[2]. */
static void output_transform(Lower *L, Node *n, int64_t M, const int64_t *out, int has_bias, const Tiles *tl,
                             Expr *ty)
{
    KB *b = lw_kb(L);
    Arena *a = lw_arena(L);
    Expr *zero = ke_idx(a, 0);
    Expr *tx = kb_v(b, kb_for_k(b, "tx", tl->TX, IT_DATA));
    Expr *m = kb_v(b, kb_for_k(b, "m", M, IT_DATA));
    Expr *q[16], *s[8];
    Expr *tile = tile_at(a, tl, ty, tx);
    for (int k = 0; k < 16; k++) {
        Expr *qc[3] = {ke_idx(a, k), tile, m};
        q[k] = lw_load_temp(L, tl->P, qc);
    }
    lets(b, "q", q, 16);
    for (int j = 0; j < 4; j++) {
        s[0 * 4 + j] = add(a, add(a, q[0 * 4 + j], q[1 * 4 + j]), q[2 * 4 + j]);
        s[1 * 4 + j] = sub(a, sub(a, q[1 * 4 + j], q[2 * 4 + j]), q[3 * 4 + j]);
    }
    lets(b, "s", s, 8);
    Expr *bias = has_bias ? lw_load(L, n->in[2], &m) : NULL;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            Expr *r = j == 0 ? add(a, add(a, s[i * 4 + 0], s[i * 4 + 1]), s[i * 4 + 2])
                             : sub(a, sub(a, s[i * 4 + 1], s[i * 4 + 2]), s[i * 4 + 3]);
            Expr *yc[4] = {zero, m, ke_bin(a, B_ADD, ke_bin(a, B_MUL, ty, ke_idx(a, 2)), ke_idx(a, i)),
                           ke_bin(a, B_ADD, ke_bin(a, B_MUL, tx, ke_idx(a, 2)), ke_idx(a, j))};
            /* an odd output's last tile: its second row or column is not there */
            Expr *in = NULL;
            if (i == 1 && out[0] % 2)
                in = ke_bin(a, B_LT, yc[2], ke_idx(a, out[0]));
            if (j == 1 && out[1] % 2) {
                Expr *cj = ke_bin(a, B_LT, yc[3], ke_idx(a, out[1]));
                in = in ? ke_bin(a, B_AND, in, cj) : cj;
            }
            if (in)
                kb_if(b, in);
            lw_store(L, n, 0, yc, bias ? add(a, r, bias) : r);
            if (in)
                kb_end(b);
        }
    kb_end(b);
    kb_end(b);
}

int lower_conv_winograd(Lower *L, Node *n, int64_t C, int64_t M, const Window *w, const int64_t *out, int xp,
                        int has_bias)
{
    KB *b = lw_kb(L);
    Tiles tl = {w->out[0] / 2, w->out[1] / 2, 0, -1, -1, transformed_weights(L, n, C, M)};
    /* U is read once per row of tiles: row by row while it stays in the
     * cache, else every tile at once, so that U is read once */
    tl.whole = !u_cached(C, M, lw_graph(L)->winograd);
    int64_t T = tl.whole ? tl.TY * tl.TX : tl.TX;
    Shape vs = {3, {16, T, C}}, ps = {3, {16, T, M}};
    int (*scratch)(Lower *, const char *, DType, const Shape *) = tl.whole ? lw_temp : lw_local;
    tl.V = scratch(L, "winograd_v", DT_F32, &vs);
    tl.P = scratch(L, "winograd_p", DT_F32, &ps);
    kb_comment(b, tl.whole ? "Winograd F(2x2, 3x3) over every tile at once: V = B^T d B, P[e] = V[e] U[e], "
                             "y = A^T P A + b"
                           : "Winograd F(2x2, 3x3): per row of 2x2 output tiles, V = B^T d B, P[e] = V[e] U[e], "
                             "y = A^T P A + b");
    /* whole: for ty {V}; P; for ty {y}. by row: for ty {V; P; y} */
    Expr *ty = kb_v(b, kb_for_k(b, "ty", tl.TY, IT_DATA));
    input_transform(L, n, w, xp, C, &tl, ty);
    if (tl.whole)
        kb_end(b);
    products(L, C, M, &tl, T);
    if (tl.whole)
        ty = kb_v(b, kb_for_k(b, "ty", tl.TY, IT_DATA));
    output_transform(L, n, M, out, has_bias, &tl, ty);
    kb_end(b); /* ty */
    return 0;
}
