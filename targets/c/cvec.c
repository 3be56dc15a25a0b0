/*
 * cvec.c: vector expressions and stores as C, through kiln_vec.h.
 *
 * A vector of `lanes` elements of type t is the GCC/Clang vector type
 * kiln_<t>x<lanes> (index vectors are int64 ones); arithmetic and
 * comparisons print infix (the vector extension defines them lane by
 * lane), everything else calls a kiln_vec.h function named after the type:
 * kiln_load_f32x8, kiln_exp_f32x8, kiln_select_f32x8, kiln_hsum_f32x8...
 *
 * Bool vectors are masks. C gives a comparison of two vectors the signed
 * integer vector of their element width, so a mask's C type depends on
 * what made it; mask() prints it at the width its user needs (a select of
 * f32 lanes wants kiln_i32x8, a comparison of index lanes gives
 * kiln_i64x8), converting with __builtin_convertvector where they differ.
 *
 * A load or store whose index is a ramp of stride 1 touches consecutive
 * elements from the ramp's base; any other index vector gathers or
 * scatters. The vectorizer only makes what this file can print (see
 * vectorize.c): 32- and 64-bit element types, masks from comparisons.
 */
#include "cemit.h"

#include <string.h>

static const char *elem_name(DType t)
{
    return t == DT_INDEX ? "i64" : dtype_name(t);
}

const char *cvec_type(DType t, int lanes)
{
    static char buf[8][32];
    static int next;
    char *b = buf[next++ & 7];
    snprintf(b, sizeof buf[0], "kiln_%sx%d", elem_name(t), lanes);
    return b;
}

/* Byte width of the lanes of a mask as C makes it. */
static int mask_width(const Expr *e)
{
    switch (e->kind) {
    case E_BINARY:
        if (binop_is_compare((BinOp)e->op))
            return dtype_size(e->a->type);
        return mask_width(e->a);
    case E_UNARY:
        return mask_width(e->a);
    default:
        return 4;
    }
}

static const char *mask_type(int width, int lanes)
{
    return cvec_type(width == 8 ? DT_I64 : width == 2 ? DT_I16 : width == 1 ? DT_I8 : DT_I32, lanes);
}

/* Print bool vector e as a mask of `width`-byte lanes (all ones or zero). */
static void mask(Out *o, const Expr *e, int width)
{
    FILE *f = o->f;
    if (e->kind == E_BCAST) {
        fprintf(f, "kiln_bcast_%s(", mask_type(width, e->lanes) + 5);
        expr(o, e->a, P_COND + 1);
        fputs(" ? -1 : 0)", f);
        return;
    }
    if (e->kind == E_BINARY && (e->op == B_AND || e->op == B_OR || e->op == B_XOR)) {
        fputc('(', f);
        mask(o, e->a, width);
        fputs(e->op == B_AND ? " & " : e->op == B_OR ? " | " : " ^ ", f);
        mask(o, e->b, width);
        fputc(')', f);
        return;
    }
    if (e->kind == E_UNARY && e->op == U_NOT) {
        fputs("~", f);
        mask(o, e->a, width);
        return;
    }
    /* ramp(b, 1, W) < bcast(n) (or <=): the first n - b lanes, computed in
     * the mask's own lanes rather than compared in 64-bit index lanes */
    if (e->kind == E_BINARY && (e->op == B_LT || e->op == B_LE) && e->a->kind == E_RAMP && e->a->i == 1 &&
        e->b->kind == E_BCAST && !dtype_is_float(e->a->type) && dtype_size(e->a->type) == 8) {
        fprintf(f, "kiln_below_%s(", mask_type(width, e->lanes) + 5);
        expr(o, e->b->a, P_ADD + 1);
        fputs(" - ", f);
        expr(o, e->a->a, P_ADD + 1);
        fputs(e->op == B_LE ? " + 1)" : ")", f);
        return;
    }
    int own = mask_width(e);
    if (own != width)
        fputs("__builtin_convertvector(", f);
    fputc('(', f);
    expr(o, e->a, P_REL + 1);
    fprintf(f, " %s ", binop_c((BinOp)e->op));
    expr(o, e->b, P_REL + 1);
    fputc(')', f);
    if (own != width)
        fprintf(f, ", %s)", mask_type(width, e->lanes));
}

/* The function of kiln_vec.h computing unary op, or NULL. */
static const char *vec_fn(UnOp op)
{
    switch (op) {
    case U_EXP: return "exp";
    case U_LOG: return "log";
    case U_TANH: return "tanh";
    case U_ERF: return "erf";
    case U_SQRT: return "sqrt";
    case U_FLOOR: return "floor";
    case U_CEIL: return "ceil";
    case U_TRUNC: return "trunc";
    case U_ROUND: return "round";
    case U_ABS: return "abs";
    case U_SIN: return "sin";
    case U_COS: return "cos";
    default: return NULL;
    }
}

/* The address of the first element a stride-1 ramp index reaches:
 * &buf[base]. */
static void base_addr(Out *o, int buf, const Expr *index)
{
    fprintf(o->f, "&%s[", o->bname[buf]);
    expr(o, index->a, 0);
    fputc(']', o->f);
}

static int contiguous(const Expr *index)
{
    return index->kind == E_RAMP && index->i == 1;
}

/* A stride-2 ramp of 32- or 64-bit lanes (W <= 8 for 64-bit): kiln_load2,
 * two loads and a shuffle instead of a lane-by-lane gather (a stride-2
 * convolution or pooling window). */
static int stride2(const Expr *e)
{
    int size = dtype_size(e->type);
    return e->a->kind == E_RAMP && e->a->i == 2 && !e->b && e->type != DT_BOOL &&
           (size == 4 || (size == 8 && e->lanes <= 8));
}

static void call1(Out *o, const char *fn, const Expr *e, const Expr *a)
{
    fprintf(o->f, "kiln_%s_%s(", fn, cvec_type(e->type, e->lanes) + 5);
    expr(o, a, 0);
    fputc(')', o->f);
}

void cvec_expr(Out *o, const Expr *e)
{
    FILE *f = o->f;
    char ty[32]; /* cvec_type's buffers are reused: keep a copy */
    snprintf(ty, sizeof ty, "%s", cvec_type(e->type, e->lanes));
    const char *sfx = ty + 5; /* "f32x8" */
    switch (e->kind) {
    case E_VAR:
        fputs(o->vname[e->var], f);
        return;
    case E_CONST: /* constants are scalars; the vectorizer broadcasts them */
        break;
    case E_BCAST:
        fprintf(f, "kiln_bcast_%s(", sfx);
        expr(o, e->a, 0);
        fputc(')', f);
        return;
    case E_RAMP:
        fprintf(f, "kiln_ramp_%s(", sfx);
        expr(o, e->a, 0);
        fprintf(f, ", %lld)", (long long)e->i);
        return;
    case E_LOAD: {
        int width = dtype_size(e->type);
        if (contiguous(e->a)) {
            fprintf(f, e->b ? "kiln_load_mask_%s(" : "kiln_load_%s(", sfx);
            base_addr(o, e->buf, e->a);
        } else if (e->b && e->a->kind == E_BCAST) {
            /* one element for every lane that is on: read it once if any is */
            fprintf(f, "(kiln_hany_%s(", mask_type(width, e->lanes) + 5);
            mask(o, e->b, width);
            fprintf(f, ") ? kiln_bcast_%s(%s[", sfx, o->bname[e->buf]);
            expr(o, e->a->a, 0);
            fprintf(f, "]) : kiln_bcast_%s(0))", sfx);
            return;
        } else if (stride2(e)) {
            fprintf(f, "kiln_load2_%s(", sfx);
            base_addr(o, e->buf, e->a);
        } else {
            fprintf(f, e->b ? "kiln_gather_mask_%s(%s, " : "kiln_gather_%s(%s, ", sfx, o->bname[e->buf]);
            expr(o, e->a, 0);
        }
        if (e->b) {
            fputs(", ", f);
            mask(o, e->b, width);
            fprintf(f, ", kiln_bcast_%s(0)", sfx);
        }
        fputc(')', f);
        return;
    }
    case E_UNARY:
        if (e->op == U_NEG || e->op == U_BNOT) {
            fputs(e->op == U_NEG ? "(-" : "(~", f);
            expr(o, e->a, P_UNARY);
            fputc(')', f);
        } else if (e->type == DT_BOOL) {
            mask(o, e, 4);
        } else {
            call1(o, vec_fn((UnOp)e->op), e, e->a);
        }
        return;
    case E_BINARY: {
        BinOp op = (BinOp)e->op;
        char sab[32];
        snprintf(sab, sizeof sab, "%s", cvec_type(e->a->type, e->lanes) + 5);
        const char *sa = sab;
        if (op == B_MIN || op == B_MAX) {
            if (dtype_is_float(e->a->type)) {
                fprintf(f, "kiln_v%s_%s(", op == B_MIN ? "min" : "max", sa);
                expr(o, e->a, 0);
                fputs(", ", f);
                expr(o, e->b, 0);
                fputc(')', f);
            } else {
                /* integers: select by a comparison */
                fprintf(f, "kiln_select_%s((", sa);
                expr(o, e->a, P_REL + 1);
                fputs(op == B_MIN ? " < " : " > ", f);
                expr(o, e->b, P_REL + 1);
                fputs("), ", f);
                expr(o, e->a, 0);
                fputs(", ", f);
                expr(o, e->b, 0);
                fputc(')', f);
            }
            return;
        }
        if (op == B_POW) {
            fprintf(f, "kiln_pow_%s(", sa);
            expr(o, e->a, 0);
            fputs(", ", f);
            expr(o, e->b, 0);
            fputc(')', f);
            return;
        }
        if (e->type == DT_BOOL) {
            mask(o, e, mask_width(e));
            return;
        }
        fputc('(', f);
        expr(o, e->a, P_MUL + 1);
        fprintf(f, " %s ", binop_c(op));
        expr(o, e->b, P_MUL + 1);
        fputc(')', f);
        return;
    }
    case E_SELECT:
        fprintf(f, "kiln_select_%s(", sfx);
        mask(o, e->a, dtype_size(e->type));
        fputs(", ", f);
        expr(o, e->b, 0);
        fputs(", ", f);
        expr(o, e->c, 0);
        fputc(')', f);
        return;
    case E_CAST:
        fputs("__builtin_convertvector(", f);
        expr(o, e->a, 0);
        fprintf(f, ", %s)", ty);
        return;
    case E_HREDUCE:
        fprintf(f, "kiln_h%s_%s(", e->op == B_ADD ? "sum" : e->op == B_MIN ? "min" : "max",
                cvec_type(e->type, e->a->lanes) + 5);
        expr(o, e->a, 0);
        fputc(')', f);
        return;
    case E_BITCAST: /* never vectorized */
        break;
    }
    fputs("/* unprintable vector expression */ 0", f);
}

void cvec_store(Out *o, const Stmt *s)
{
    FILE *f = o->f;
    const Buffer *b = &o->p->bufs[s->buf];
    int lanes = s->index->lanes;
    char sfx[32];
    snprintf(sfx, sizeof sfx, "%s", cvec_type(b->dtype, lanes) + 5);
    if (contiguous(s->index)) {
        fprintf(f, s->mask ? "kiln_store_mask_%s(" : "kiln_store_%s(", sfx);
        base_addr(o, s->buf, s->index);
        if (s->mask) {
            fputs(", ", f);
            mask(o, s->mask, dtype_size(b->dtype));
        }
        fputs(", ", f);
        expr(o, s->value, 0);
        fputs(");\n", f);
        return;
    }
    /* a scatter: lane by lane */
    fprintf(f, "{ %s v_ = ", cvec_type(b->dtype, lanes));
    expr(o, s->value, 0);
    fprintf(f, "; %s i_ = ", cvec_type(DT_INDEX, lanes));
    expr(o, s->index, 0);
    if (s->mask) {
        fprintf(f, "; %s m_ = ", mask_type(8, lanes));
        mask(o, s->mask, 8);
    }
    fprintf(f, "; for (int l_ = 0; l_ < %d; l_++) %s%s[i_[l_]] = v_[l_]; }\n", lanes, s->mask ? "if (m_[l_]) " : "",
            o->bname[s->buf]);
}
