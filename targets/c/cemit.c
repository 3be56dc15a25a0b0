/*
 * cemit.c: the C target. Kernel IR -> model.c, model.h, weights.bin/.S.
 *
 * Each kernel becomes a static function whose parameters are the buffers it
 * touches (const restrict for those it only reads), named after the ONNX
 * values; model_run() calls them in order with pointers into the caller's
 * inputs, outputs, the arena and the weight blob. Expressions print with C
 * precedence, so the output reads like hand-written loops. Nothing here
 * knows an operator: it prints loops, loads, stores and arithmetic.
 *
 * The printer is driven by a Dialect so that CUDA C can reuse it; the C
 * dialect is the only one today.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "cemit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const Dialect c_dialect = {"static void", "restrict", "ptrdiff_t", "static inline", 0};
const Dialect cuda_dialect = {"static void", "__restrict__", "ptrdiff_t", "static __device__ inline", 1};

/* A program whose kernels print to more than PART_BYTES of C is split over
 * model.c and model_1.c ... (at most MAX_PARTS files), which build.sh
 * compiles in parallel: a large model's build takes a fraction of the
 * time on a machine with several cores. */
enum { PART_BYTES = 120000, MAX_PARTS = 4 };

static const char *ctype(const Out *o, DType t)
{
    return t == DT_INDEX ? o->dl->index_type : dtype_value_ctype(t);
}

static int binop_prec(BinOp op)
{
    switch (op) {
    case B_MUL: case B_DIV: case B_MOD: return P_MUL;
    case B_ADD: case B_SUB: return P_ADD;
    case B_SHL: case B_SHR: return P_SHIFT;
    case B_LT: case B_LE: case B_GT: case B_GE: return P_REL;
    case B_EQ: case B_NE: return P_EQ;
    case B_BAND: return P_BAND;
    case B_BXOR: return P_BXOR;
    case B_BOR: return P_BOR;
    case B_AND: return P_AND;
    case B_OR: return P_OR;
    default: return P_POSTFIX; /* printed as a call */
    }
}

/* Narrow integers promote to int in C; results are cast back so that they
 * wrap at their width exactly as the Kernel IR (and the interpreter) say. */
static int narrow(DType t)
{
    return t == DT_I8 || t == DT_U8 || t == DT_I16 || t == DT_U16;
}

/* Suffix of float literals and libm functions: f16/bf16 compute in float. */
static const char *fsuffix(DType t) { return t == DT_F64 ? "" : "f"; }


static void open_paren(Out *o, int prec, int need)
{
    if (prec < need)
        fputc('(', o->f);
}

static void close_paren(Out *o, int prec, int need)
{
    if (prec < need)
        fputc(')', o->f);
}

static void print_const(Out *o, const Expr *e, int need)
{
    FILE *f = o->f;
    if (dtype_is_float(e->type)) {
        double v = e->f;
        if (isnan(v)) {
            fputs(e->type != DT_F64 ? "NAN" : "(double)NAN", f);
            return;
        }
        if (isinf(v)) {
            open_paren(o, P_UNARY, need);
            fprintf(f, "%s%s", v < 0 ? "-" : "", e->type != DT_F64 ? "INFINITY" : "(double)INFINITY");
            close_paren(o, P_UNARY, need);
            return;
        }
        char buf[64];
        snprintf(buf, sizeof buf, e->type != DT_F64 ? "%.9g" : "%.17g", v);
        if (!strpbrk(buf, ".e"))
            strcat(buf, ".0");
        int neg = buf[0] == '-';
        if (neg)
            open_paren(o, P_UNARY, need);
        fprintf(f, "%s%s", buf, fsuffix(e->type));
        if (neg)
            close_paren(o, P_UNARY, need);
        return;
    }
    int64_t v = e->i;
    int neg = v < 0 && e->type != DT_U64;
    if (neg)
        open_paren(o, P_UNARY, need);
    if (e->type == DT_U64 && (v < 0 || v > INT32_MAX))
        fprintf(f, "UINT64_C(%llu)", (unsigned long long)v);
    else if (e->type == DT_U32 && v > INT32_MAX)
        fprintf(f, "%lldu", (long long)v);
    else if (v == INT64_MIN)
        fputs("INT64_MIN", f);
    else if (v < INT32_MIN || v > INT32_MAX)
        fprintf(f, "INT64_C(%lld)", (long long)v);
    else
        fprintf(f, "%lld", (long long)v);
    if (neg)
        close_paren(o, P_UNARY, need);
}

static const char *math_fn(UnOp op)
{
    switch (op) {
    case U_ABS: return "fabs";
    case U_SQRT: return "sqrt";
    case U_EXP: return "exp";
    case U_LOG: return "log";
    case U_SIN: return "sin";
    case U_COS: return "cos";
    case U_TAN: return "tan";
    case U_ASIN: return "asin";
    case U_ACOS: return "acos";
    case U_ATAN: return "atan";
    case U_SINH: return "sinh";
    case U_COSH: return "cosh";
    case U_TANH: return "tanh";
    case U_ASINH: return "asinh";
    case U_ACOSH: return "acosh";
    case U_ATANH: return "atanh";
    case U_ERF: return "erf";
    case U_FLOOR: return "floor";
    case U_CEIL: return "ceil";
    case U_ROUND: return "nearbyint";
    case U_TRUNC: return "trunc";
    default: return NULL;
    }
}

static void call1(Out *o, const char *fn, const char *suffix, const Expr *a)
{
    fprintf(o->f, "%s%s(", fn, suffix);
    expr(o, a, 0);
    fputc(')', o->f);
}

static void call2(Out *o, const char *fn, const char *suffix, const Expr *a, const Expr *b)
{
    fprintf(o->f, "%s%s(", fn, suffix);
    expr(o, a, 0);
    fputs(", ", o->f);
    expr(o, b, 0);
    fputc(')', o->f);
}

static void unary(Out *o, const Expr *e, int need)
{
    FILE *f = o->f;
    const Expr *a = e->a;
    DType t = a->type;
    UnOp op = (UnOp)e->op;
    if (op == U_ISNAN || op == U_ISINF) {
        if (!dtype_is_float(t)) {
            fputs("0", f);
            return;
        }
        /* isinf() may return -1: bools must be 0 or 1 */
        open_paren(o, P_EQ, need);
        call1(o, op == U_ISNAN ? "isnan" : "isinf", "", a);
        fputs(" != 0", f);
        close_paren(o, P_EQ, need);
        return;
    }
    if (dtype_is_float(t) && math_fn(op)) {
        call1(o, math_fn(op), fsuffix(t), a);
        return;
    }
    if (!dtype_is_float(t) && (op == U_FLOOR || op == U_CEIL || op == U_ROUND || op == U_TRUNC)) {
        expr(o, a, need);
        return;
    }
    if (op == U_ABS) {
        fprintf(f, "kiln_abs_%s(", dtype_name(t));
        expr(o, a, 0);
        fputc(')', f);
        return;
    }
    const char *sym = op == U_NEG ? "-" : op == U_NOT ? "!" : "~";
    int cast = narrow(e->type) && op != U_NOT;
    open_paren(o, P_UNARY, need);
    if (cast)
        fprintf(f, "(%s)", ctype(o, e->type));
    fputs(sym, f);
    expr(o, a, P_UNARY);
    close_paren(o, P_UNARY, need);
}

static void binary(Out *o, const Expr *e, int need)
{
    FILE *f = o->f;
    BinOp op = (BinOp)e->op;
    DType t = e->a->type;
    int isf = dtype_is_float(t);
    switch (op) {
    case B_POW:
        if (isf)
            call2(o, "pow", fsuffix(t), e->a, e->b);
        else
            call2(o, "kiln_pow_", dtype_name(t), e->a, e->b);
        return;
    case B_MIN: case B_MAX:
        fprintf(f, "kiln_%s_%s(", op == B_MIN ? "min" : "max", dtype_name(t));
        expr(o, e->a, 0);
        fputs(", ", f);
        expr(o, e->b, 0);
        fputc(')', f);
        return;
    case B_ATAN2:
        call2(o, "atan2", fsuffix(t), e->a, e->b);
        return;
    case B_MOD:
        if (isf) {
            call2(o, "fmod", fsuffix(t), e->a, e->b);
            return;
        }
        break;
    case B_XOR:
        open_paren(o, P_EQ, need);
        fputc('!', f);
        expr(o, e->a, P_UNARY);
        fputs(" != !", f);
        expr(o, e->b, P_UNARY);
        close_paren(o, P_EQ, need);
        return;
    default:
        break;
    }
    int prec = binop_prec(op);
    int cast = narrow(e->type) && !binop_is_compare(op) && op != B_AND && op != B_OR;
    if (cast) {
        /* (uint8_t)(a + b) */
        open_paren(o, P_UNARY, need);
        fprintf(f, "(%s)(", ctype(o, e->type));
    }
    int inner = cast ? 0 : need;
    open_paren(o, prec, inner);
    /* a constant shifted left is a C int unless told: (uint64_t)1 << s */
    int wide = op == B_SHL && e->a->kind == E_CONST &&
               (t == DT_U64 || t == DT_I64 || t == DT_U32 || t == DT_INDEX);
    if (wide)
        fprintf(f, "(%s)", ctype(o, t));
    expr(o, e->a, wide ? P_UNARY : prec);
    fprintf(f, " %s ", binop_c(op));
    expr(o, e->b, prec + 1); /* left-associative: the right operand binds tighter */
    close_paren(o, prec, inner);
    if (cast) {
        fputc(')', f);
        close_paren(o, P_UNARY, need);
    }
}

/* A value's bits read as another type of the same width, through a union
 * (well-defined in C99): ((union { float from; int32_t to; }){x}).to.
 * f16/bf16 values are floats, so their bits are taken by rounding to the
 * stored form and given back by widening; a bool is true on any set bit. */
static void bitcast(Out *o, const Expr *e, int need)
{
    FILE *f = o->f;
    DType from = e->a->type, to = e->type;
    if (to == DT_BOOL) {
        open_paren(o, P_EQ, need);
        expr(o, e->a, P_EQ + 1);
        fputs(" != 0", f);
        close_paren(o, P_EQ, need);
        return;
    }
    if (dtype_is_half(to))
        fprintf(f, "kiln_%s_to_f32(", dtype_name(to));
    /* C++ (CUDA) has no compound literals: kiln_cuda.h's kiln_bitcast<> */
    if (o->dl->gpu)
        fprintf(f, "kiln_bitcast<%s, %s>(", dtype_ctype(to), dtype_ctype(from));
    else
        fprintf(f, "((union { %s from; %s to; }){", dtype_ctype(from), dtype_ctype(to));
    if (dtype_is_half(from)) {
        fprintf(f, "kiln_f32_to_%s(", dtype_name(from));
        expr(o, e->a, 0);
        fputc(')', f);
    } else {
        expr(o, e->a, o->dl->gpu ? 0 : P_COND);
    }
    fputs(o->dl->gpu ? ")" : "}).to", f);
    if (dtype_is_half(to))
        fputc(')', f);
}

void expr(Out *o, const Expr *e, int need)
{
    FILE *f = o->f;
    if (e->lanes > 1 && e->kind != E_VAR) {
        cvec_expr(o, e);
        return;
    }
    switch (e->kind) {
    case E_CONST:
        print_const(o, e, need);
        break;
    case E_VAR:
        fputs(o->vname[e->var], f);
        break;
    case E_LOAD:
        /* f16/bf16 elements widen to float as they are loaded */
        if (dtype_is_half(e->type))
            fprintf(f, "kiln_%s_to_f32(", dtype_name(e->type));
        fprintf(f, "%s[", o->bname[e->buf]);
        expr(o, e->a, 0);
        fputc(']', f);
        if (dtype_is_half(e->type))
            fputc(')', f);
        break;
    case E_UNARY:
        unary(o, e, need);
        break;
    case E_BINARY:
        binary(o, e, need);
        break;
    case E_SELECT:
        open_paren(o, P_COND, need);
        expr(o, e->a, P_COND + 1);
        fputs(" ? ", f);
        expr(o, e->b, P_COND + 1);
        fputs(" : ", f);
        expr(o, e->c, P_COND);
        close_paren(o, P_COND, need);
        break;
    case E_CAST:
        if (e->type == DT_BOOL) {
            open_paren(o, P_EQ, need);
            expr(o, e->a, P_EQ + 1);
            fputs(" != 0", f);
            close_paren(o, P_EQ, need);
        } else if (dtype_is_half(e->type)) {
            /* a cast to f16/bf16 rounds to that type's precision */
            int is_float = e->a->type == DT_F32 || dtype_is_half(e->a->type);
            fprintf(f, "kiln_round_%s(%s", dtype_name(e->type), is_float ? "" : "(float)");
            expr(o, e->a, is_float ? 0 : P_UNARY);
            fputc(')', f);
        } else if (e->type == DT_F32 && dtype_is_half(e->a->type)) {
            expr(o, e->a, need); /* f16/bf16 values are floats already */
        } else if (dtype_is_float(e->a->type) && !dtype_is_float(e->type)) {
            /* float to integer saturates (NaN is 0) and then wraps to the
             * width, as the interpreter does: a plain C cast is undefined
             * out of range */
            open_paren(o, P_UNARY, need);
            fprintf(f, "(%s)kiln_fto%s(", ctype(o, e->type), e->type == DT_U64 ? "u" : "i");
            expr(o, e->a, 0);
            fputc(')', f);
            close_paren(o, P_UNARY, need);
        } else {
            open_paren(o, P_UNARY, need);
            fprintf(f, "(%s)", ctype(o, e->type));
            expr(o, e->a, P_UNARY);
            close_paren(o, P_UNARY, need);
        }
        break;
    case E_BITCAST:
        bitcast(o, e, need);
        break;
    case E_BCAST:
        expr(o, e->a, need);
        break;
    case E_RAMP: /* vectors only: cvec.c */
        break;
    case E_HREDUCE:
        cvec_expr(o, e);
        break;
    }
}

static void indent(FILE *f, int depth)
{
    for (int i = 0; i < depth; i++)
        fputs("    ", f);
}

/* Text from the model (names, op types, its path) printed inside a C
 * comment or string literal: bytes outside a small safe set are written as
 * three-digit octal escapes, so no quote, backslash, newline, trigraph
 * (??/), comment end or non-ASCII byte ever reaches the C source. In a
 * string literal the escapes decode to the original bytes. */
void cemit_text(FILE *f, const char *s)
{
    static const char safe[] = " _-.,:;=+#@%&!|~^<>()[]{}'/$";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 strchr(safe, *c);
        if (ok)
            fputc(*c, f);
        else
            fprintf(f, "\\%03o", *c);
    }
}

/* A block comment of kiln's text (its lines separated by \n), whose
 * pieces from the model are escaped by c_text. */
void cemit_comment(FILE *f, int depth, const char *text)
{
    indent(f, depth);
    fputs("/* ", f);
    for (const char *c = text; *c;) {
        size_t n = strcspn(c, "\n");
        char line[512];
        while (n) {
            size_t take = n < sizeof line - 1 ? n : sizeof line - 1;
            memcpy(line, c, take);
            line[take] = 0;
            cemit_text(f, line);
            c += take;
            n -= take;
        }
        if (*c == '\n') {
            c++;
            fputc('\n', f);
            indent(f, depth);
            fputs(" * ", f);
        }
    }
    fputs(" */\n", f);
}

static void block(Out *o, const Stmt *s, int depth)
{
    FILE *f = o->f;
    for (; s; s = s->next) {
        if (s->comment && !o->key)
            cemit_comment(f, depth, s->comment);
        indent(f, depth);
        switch (s->kind) {
        case S_LOOP: {
            const char *v = o->vname[s->var];
            if (s->loop == L_PARALLEL && o->par_nin) {
                /* outlined by emit_kernel: run it on the thread pool, the
                 * variables it reads from around it in the context */
                fprintf(f, "{\n");
                indent(f, depth + 1);
                fprintf(f, "struct %s_ctx c_ = {", o->kname);
                int n = 0;
                for (int i = 0; i < o->nuse; i++)
                    if (o->p->bufs[o->use[i].buf].kind != BUF_LOCAL)
                        fprintf(f, "%s%s", n++ ? ", " : "", o->bname[o->use[i].buf]);
                for (int i = 0; i < o->par_nin[o->npar]; i++) {
                    const char *v = o->vname[o->par_in[o->npar][i]];
                    fprintf(f, "%s.%s = %s", n++ ? ", " : "", v, v);
                }
                fprintf(f, "};\n");
                indent(f, depth + 1);
                fprintf(f, "kiln_par_for(%s_par%d, &c_, ", o->kname, o->npar++);
                expr(o, s->extent, 0);
                fprintf(f, ");\n");
                indent(f, depth);
                fputs("}\n", f);
                break;
            }
            fprintf(f, "for (%s %s = 0; %s < ", o->dl->index_type, v, v);
            expr(o, s->extent, P_REL + 1);
            fprintf(f, "; %s++) {\n", v);
            block(o, s->body, depth + 1);
            indent(f, depth);
            fputs("}\n", f);
            break;
        }
        case S_STORE: {
            DType bt = o->p->bufs[s->buf].dtype;
            if (s->index->lanes > 1) {
                cvec_store(o, s);
                break;
            }
            fprintf(f, "%s[", o->bname[s->buf]);
            expr(o, s->index, 0);
            fputs("] = ", f);
            if (dtype_is_half(bt)) /* rounds to the stored type */
                fprintf(f, "kiln_f32_to_%s(", dtype_name(bt));
            expr(o, s->value, 0);
            fputs(dtype_is_half(bt) ? ");\n" : ";\n", f);
            break;
        }
        case S_LET:
            if (o->k->vars[s->var].lanes > 1)
                fprintf(f, "%s %s = ", cvec_type(o->k->vars[s->var].type, o->k->vars[s->var].lanes),
                        o->vname[s->var]);
            else
                fprintf(f, "%s %s = ", ctype(o, o->k->vars[s->var].type), o->vname[s->var]);
            expr(o, s->value, 0);
            fputs(";\n", f);
            break;
        case S_ASSIGN:
            fprintf(f, "%s = ", o->vname[s->var]);
            expr(o, s->value, 0);
            fputs(";\n", f);
            break;
        case S_IF:
            fputs("if (", f);
            expr(o, s->value, 0);
            fputs(") {\n", f);
            block(o, s->body, depth + 1);
            indent(f, depth);
            if (s->els) {
                fputs("} else {\n", f);
                block(o, s->els, depth + 1);
                indent(f, depth);
            }
            fputs("}\n", f);
            break;
        case S_CALL:
            fprintf(f, "%s(", s->routine);
            for (int i = 0; i < s->nargs; i++) {
                if (i)
                    fputs(", ", f);
                if (s->args[i]->kind == E_LOAD) /* an address */
                    fputc('&', f);
                expr(o, s->args[i], 0);
            }
            fputs(");\n", f);
            break;
        }
    }
}

static int is_par(const Stmt *s) { return s->kind == S_LOOP && s->loop == L_PARALLEL; }

/* The parallel loops of block s, outermost ones only, in the order they
 * are printed: into out[] (when not NULL); returns their count. */
static int par_loops(const Stmt *s, const Stmt **out, int n)
{
    for (; s; s = s->next) {
        if (is_par(s)) {
            if (out)
                out[n] = s;
            n++;
        } else {
            n = par_loops(s->body, out, n);
            n = par_loops(s->els, out, n);
        }
    }
    return n;
}

/* Does any kernel run a loop on the thread pool? */
static int prog_parallel(const Program *p)
{
    for (int i = 0; i < p->nkernels; i++)
        if (par_loops(p->kernels[i].body, NULL, 0))
            return 1;
    return 0;
}

/* ------------------------------------------------------------- files */

/* Helpers with the Kernel IR's exact semantics, printed only when a kernel
 * uses them: float min/max propagate NaN (as numpy does); integer abs and
 * pow wrap at their type's width. */
enum { H_MIN, H_MAX, H_ABS, H_POW, H_FTOI, H_VEC, H_COUNT };

static void need_expr(unsigned char need[H_COUNT][128], const Expr *e)
{
    if (!e)
        return;
    if (e->kind == E_BINARY && (e->op == B_MIN || e->op == B_MAX))
        need[e->op == B_MIN ? H_MIN : H_MAX][e->a->type] = 1;
    if (e->kind == E_BINARY && e->op == B_POW && !dtype_is_float(e->a->type))
        need[H_POW][e->a->type] = 1;
    if (e->kind == E_UNARY && e->op == U_ABS && !dtype_is_float(e->a->type))
        need[H_ABS][e->a->type] = 1;
    if (e->kind == E_CAST && dtype_is_float(e->a->type) && !dtype_is_float(e->type) && e->type != DT_BOOL)
        need[H_FTOI][e->type == DT_U64] = 1;
    if (e->lanes > 1)
        need[H_VEC][0] = 1;
    need_expr(need, e->a);
    need_expr(need, e->b);
    need_expr(need, e->c);
}

static void need_block(unsigned char need[H_COUNT][128], const Stmt *s)
{
    for (; s; s = s->next) {
        need_expr(need, s->extent);
        need_expr(need, s->index);
        need_expr(need, s->value);
        for (int i = 0; i < s->nargs; i++)
            need_expr(need, s->args[i]);
        need_block(need, s->body);
        need_block(need, s->els);
    }
}

static void emit_helpers(FILE *f, unsigned char need[H_COUNT][128], const Dialect *dl)
{
    if (need[H_FTOI][0])
        fprintf(f, "%s int64_t kiln_ftoi(double f)\n{\n"
              "    return f != f ? 0 : f >= 9223372036854775807.0 ? INT64_MAX\n"
              "         : f <= -9223372036854775808.0 ? INT64_MIN : (int64_t)f;\n}\n", dl->func_decl);
    if (need[H_FTOI][1])
        fprintf(f, "%s uint64_t kiln_ftou(double f)\n{\n"
              "    return f != f || f <= 0 ? 0 : f >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)f;\n}\n", dl->func_decl);
    for (int t = 0; t < 128; t++) {
        const char *n = dtype_name((DType)t), *c = t == DT_INDEX ? dl->index_type : dtype_value_ctype((DType)t);
        int isf = dtype_is_float((DType)t);
        if (need[H_MIN][t])
            fprintf(f, "%s %s kiln_min_%s(%s a, %s b) { return a < b%s ? a : b; }\n", dl->func_decl, c, n, c, c,
                    isf ? " || a != a" : "");
        if (need[H_MAX][t])
            fprintf(f, "%s %s kiln_max_%s(%s a, %s b) { return a > b%s ? a : b; }\n", dl->func_decl, c, n, c, c,
                    isf ? " || a != a" : "");
        if (need[H_ABS][t])
            fprintf(f, "%s %s kiln_abs_%s(%s a) { return a < 0 ? (%s)(0 - (uint64_t)a) : a; }\n",
                    dl->func_decl, c, n, c, c);
        if (need[H_POW][t]) {
            fprintf(f, "%s %s kiln_pow_%s(%s b, %s e)\n{\n    %s r = 1;\n", dl->func_decl, c, n, c, c, c);
            if (dtype_is_signed((DType)t))
                fprintf(f, "    if (e < 0)\n        return b == 1 ? 1 : b == -1 ? (e %% 2 ? -1 : 1) : 0;\n");
            /* by squaring (wrapping, so the same product as e steps) */
            fprintf(f,
                    "    for (; e > 0; e >>= 1) {\n        if (e & 1)\n            r = (%s)((uint64_t)r * (uint64_t)b);\n"
                    "        b = (%s)((uint64_t)b * (uint64_t)b);\n    }\n    return r;\n}\n",
                    c, c);
        }
    }
}

/* A prototype for each routine block s calls (S_CALL) that seen[] (*nseen
 * names, at most 64) does not hold yet, from its first call: a load
 * argument is a pointer to its buffer's type (const unless the routine
 * writes it), a value its C type. */
static void emit_routines_in(FILE *f, const Program *p, const Stmt *s, const char **seen, int *nseen)
{
    for (; s; s = s->next) {
        emit_routines_in(f, p, s->body, seen, nseen);
        emit_routines_in(f, p, s->els, seen, nseen);
        if (s->kind != S_CALL)
            continue;
        int dup = 0;
        for (int i = 0; i < *nseen; i++)
            dup |= !strcmp(seen[i], s->routine);
        if (dup || *nseen == 64)
            continue;
        seen[(*nseen)++] = s->routine;
        fprintf(f, "void %s(", s->routine);
        for (int i = 0; i < s->nargs; i++) {
            const Expr *e = s->args[i];
            if (i)
                fputs(", ", f);
            if (e->kind == E_LOAD)
                fprintf(f, "%s%s *", i >= s->nargs - s->nout ? "" : "const ", dtype_ctype(p->bufs[e->buf].dtype));
            else
                fputs(e->type == DT_INDEX ? "ptrdiff_t" : dtype_ctype(e->type), f);
        }
        fputs(s->nargs ? ");\n" : "void);\n", f);
    }
}

static void emit_routines(FILE *f, const Program *p)
{
    const char *seen[64];
    int nseen = 0;
    for (int k = 0; k < p->nkernels; k++)
        emit_routines_in(f, p, p->kernels[k].body, seen, &nseen);
    if (nseen)
        fputc('\n', f);
}

void cemit_helpers(FILE *f, const Program *p, const Dialect *dl)
{
    unsigned char need[H_COUNT][128];
    memset(need, 0, sizeof need);
    for (int i = 0; i < p->nkernels; i++)
        need_block(need, p->kernels[i].body);
    emit_helpers(f, need, dl);
}

/* Is nm one of the names the C printer gives buffers (a kind letter, a
 * number, an underscore)? A variable with such a name is renamed. */
static int buffer_like(const char *nm)
{
    if (!strchr("xywtl", nm[0]) || nm[1] < '0' || nm[1] > '9')
        return 0;
    size_t d = strspn(nm + 1, "0123456789");
    return nm[1 + d] == '_';
}

/* Declare the local buffers (register tiles the passes did not promote)
 * that statement s (or block s) uses. */
static void declare_locals(Out *o, const Stmt *s, int one, Arena *a)
{
    KUse *use;
    int n = block_uses(s, one, a, &use);
    for (int i = 0; i < n; i++) {
        const Buffer *bf = &o->p->bufs[use[i].buf];
        if (bf->kind == BUF_LOCAL)
            fprintf(o->f, "    %s %s[%lld] __attribute__((aligned(64)));\n", dtype_ctype(bf->dtype),
                    o->bname[use[i].buf], (long long)bf->numel);
    }
}

/* The kernel's buffer parameters, as a parameter list or struct fields. */
static void params(Out *o, const char *sep, const char *end)
{
    for (int i = 0, n = 0; i < o->nuse; i++) {
        const Buffer *bf = &o->p->bufs[o->use[i].buf];
        if (bf->kind == BUF_LOCAL)
            continue;
        fprintf(o->f, "%s%s%s *%s %s", n++ ? sep : "", o->use[i].rw & KU_WRITE ? "" : "const ",
                dtype_ctype(bf->dtype), o->dl->restrict_kw, o->bname[o->use[i].buf]);
    }
    fputs(end, o->f);
}



/* A kernel: each parallel loop at its top level is outlined into
 * NAME_parI(ctx, lo, hi), which receives the kernel's buffers in a struct
 * and runs iterations [lo, hi); the kernel calls kiln_par_for on it. */
/* The kernel's signature: `decl name(params)`. */
static void signature(Out *o, const char *decl, const char *name, const char *end)
{
    int nparam = 0;
    for (int i = 0; i < o->nuse; i++)
        nparam += o->p->bufs[o->use[i].buf].kind != BUF_LOCAL;
    fprintf(o->f, "%s %s(", decl, name);
    if (nparam)
        params(o, ", ", ")");
    else
        fputs("void)", o->f);
    fputs(end, o->f);
}

/* The printed names of kernel k: buffers and variables by their own names,
 * or, for its key, by position (b0, b1, ... in kernel_uses order; v0, v1,
 * ...), so that two kernels that differ only in names print the same. */
static void name_kernel(Out *o, Arena *a, const char **bname)
{
    const Kernel *k = o->k;
    o->vname = arena_alloc(a, sizeof(char *) * (size_t)(k->nvars + 1));
    for (int v = 0; v < k->nvars; v++) {
        const char *nm = k->vars[v].name;
        o->vname[v] = o->key ? arena_printf(a, "v%d", v) : buffer_like(nm) ? arena_printf(a, "%s_v", nm) : nm;
    }
    /* bname: one array for the program (a kernel sets and reads only the
     * slots of its own buffers), so naming stays linear in the kernels */
    o->bname = bname;
    for (int i = 0; i < o->nuse; i++)
        o->bname[o->use[i].buf] = o->key ? arena_printf(a, "b%d", i) : o->p->bufs[o->use[i].buf].name;
}

/* The buffers of block s's one statement that are not kernel locals. */
static int nonlocal_uses(const Program *p, const Stmt *s, Arena *a, KUse **out)
{
    KUse *use;
    int n = block_uses(s, 1, a, &use), m = 0;
    for (int i = 0; i < n; i++)
        if (p->bufs[use[i].buf].kind != BUF_LOCAL)
            use[m++] = use[i];
    *out = use;
    return m;
}

/* A kernel mapped to the GPU (gpumap.c), in the CUDA dialect: each
 * top-level launch becomes a __global__ function NAME_lI of the buffers it
 * touches, its block and thread loops' variables read from blockIdx.x and
 * threadIdx.x; the kernel itself is a host function that launches them in
 * order on kiln_cuda_stream (kiln_cuda.h). */
static void emit_launches(Out *o, Arena *a, const char *decl, const char *name)
{
    FILE *f = o->f;
    const char *ix = o->dl->index_type;
    int i = 0;
    fputc('\n', f);
    for (const Stmt *s = o->k->body; s; s = s->next, i++) {
        Out lo = *o;
        KUse *use;
        lo.nuse = nonlocal_uses(o->p, s, a, &use);
        lo.use = use;
        const Stmt *t = s->body;
        fprintf(f, "static __global__ void %s_l%d(", name, i);
        if (lo.nuse)
            params(&lo, ", ", ")\n{\n");
        else
            fputs("void)\n{\n", f);
        fprintf(f, "    const %s %s = blockIdx.x;\n    const %s %s = threadIdx.x;\n", ix, o->vname[s->var], ix,
                o->vname[t->var]);
        fprintf(f, "    (void)%s;\n    (void)%s;\n", o->vname[s->var], o->vname[t->var]);
        declare_locals(&lo, t->body, 0, a);
        block(&lo, t->body, 1);
        fputs("}\n", f);
    }
    if (o->k->comment && !o->key)
        cemit_comment(f, 0, o->k->comment);
    signature(o, decl, name, "\n{\n");
    i = 0;
    for (const Stmt *s = o->k->body; s; s = s->next, i++) {
        KUse *use;
        int n = nonlocal_uses(o->p, s, a, &use);
        int64_t nb = 1, nt = 1;
        ke_is_const(s->extent, &nb);
        ke_is_const(s->body->extent, &nt);
        fprintf(f, "    %s_l%d<<<%lld, %lld, 0, kiln_cuda_stream>>>(", name, i, (long long)nb, (long long)nt);
        for (int j = 0; j < n; j++)
            fprintf(f, "%s%s", j ? ", " : "", o->bname[use[j].buf]);
        fputs(");\n", f);
    }
    fputs("}\n", f);
}

/* ------------------------------------------------- 32-bit indices (CUDA) */

/* A GPU's integer unit is 32 bits wide: a 64-bit multiply takes several
 * instructions and a 64-bit division by a constant many more. A kernel
 * whose every index value provably fits in an int -- interval arithmetic
 * over its loops' extents, as verify.c proves that index arithmetic stays
 * in int64 -- has DT_INDEX printed as int in the CUDA dialect. An index
 * read from memory, or kept in a local, has no known range: its kernel
 * keeps 64-bit indices. */
typedef struct Fit {
    KRange *vr; /* [nvars] range of each loop variable; unknown for the rest */
    int ok;
} Fit;

static KRange fit_expr(Fit *ft, const Expr *e)
{
    KRange ra, rb, r = krange_top();
    if (!ft->ok || !e)
        return r;
    switch (e->kind) {
    case E_CONST:
        r = krange_span(e->i, e->i);
        break;
    case E_VAR:
        r = ft->vr[e->var];
        break;
    case E_BINARY:
        ra = fit_expr(ft, e->a);
        rb = fit_expr(ft, e->b);
        if (krange_bin((BinOp)e->op, ra, rb, &r))
            ft->ok = 0;
        break;
    case E_SELECT:
        fit_expr(ft, e->a);
        ra = fit_expr(ft, e->b);
        rb = fit_expr(ft, e->c);
        if (ra.known && rb.known)
            r = krange_span(ra.lo < rb.lo ? ra.lo : rb.lo, ra.hi > rb.hi ? ra.hi : rb.hi);
        break;
    case E_CAST:
        ra = fit_expr(ft, e->a);
        if (e->type == DT_INDEX && dtype_is_int(e->a->type) && e->a->type != DT_U64)
            r = ra;
        break;
    default:
        fit_expr(ft, e->a);
        fit_expr(ft, e->b);
        fit_expr(ft, e->c);
        break;
    }
    if (e->type == DT_INDEX && (!r.known || r.lo < INT32_MIN || r.hi > INT32_MAX))
        ft->ok = 0;
    return r;
}

static void fit_block(Fit *ft, const Stmt *s)
{
    for (; s && ft->ok; s = s->next) {
        KRange er = fit_expr(ft, s->extent);
        if (s->kind == S_LOOP)
            ft->vr[s->var] = er.known ? krange_span(0, er.hi > 0 ? er.hi - 1 : 0) : krange_top();
        fit_expr(ft, s->index);
        fit_expr(ft, s->mask);
        fit_expr(ft, s->value);
        for (int i = 0; i < s->nargs; i++)
            fit_expr(ft, s->args[i]);
        fit_block(ft, s->body);
        fit_block(ft, s->els);
    }
}

/* Does every index value of kernel k fit in an int? */
static int index_fits_int(const Kernel *k, Arena *a)
{
    Fit ft = {arena_alloc(a, sizeof(KRange) * (size_t)(k->nvars + 1)), 1};
    for (int v = 0; v < k->nvars; v++)
        ft.vr[v] = krange_top();
    fit_block(&ft, k->body);
    return ft.ok;
}

/* Kernel k as C: `decl` is its storage and return type, `name` its C name
 * (unprefixed and static in a one-file program; prefixed and extern when
 * the kernels are split over several files). With `proto`, only its
 * declaration; with `key`, the text that decides whether two kernels can
 * share one function (cemit_program). */
void cemit_kernel(FILE *f, const Program *p, const Kernel *k, const Dialect *dl, Arena *a, const char **bname,
                  const char *decl, const char *name, int proto, int key)
{
    KUse *use;
    int nuse = kernel_uses(k, a, &use);
    Dialect narrow_dl;
    if (k->host)
        dl = &c_dialect; /* placed on the host: plain C whatever the target */
    if (dl->gpu && index_fits_int(k, a)) {
        narrow_dl = *dl;
        narrow_dl.index_type = "int";
        dl = &narrow_dl;
    }
    Out o = {f, dl, p, k, NULL, NULL, name, key, use, nuse, 0, NULL, NULL};
    name_kernel(&o, a, bname);
    if (proto) {
        signature(&o, decl, name, ";\n");
        return;
    }
    if (dl->gpu) {
        emit_launches(&o, a, decl, name);
        return;
    }
    int npar = par_loops(k->body, NULL, 0);
    fputc('\n', f);
    if (npar) {
        /* the context: the kernel's buffers, and every variable a parallel
         * loop reads from around it (each call sets its own) */
        const Stmt **par = arena_alloc(a, sizeof(Stmt *) * (size_t)npar);
        par_loops(k->body, par, 0);
        o.par_in = arena_alloc(a, sizeof(int *) * (size_t)npar);
        o.par_nin = arena_alloc(a, sizeof(int) * (size_t)npar);
        unsigned char *field = arena_alloc(a, (size_t)k->nvars + 1);
        memset(field, 0, (size_t)k->nvars + 1);
        for (int i = 0; i < npar; i++) {
            o.par_nin[i] = kernel_stmt_inputs(a, k, par[i], &o.par_in[i]);
            for (int j = 0; j < o.par_nin[i]; j++)
                field[o.par_in[i][j]] = 1;
        }
        fprintf(f, "struct %s_ctx {\n    ", name);
        params(&o, ";\n    ", ";\n");
        for (int v = 0; v < k->nvars; v++)
            if (field[v])
                fprintf(f, "    %s %s;\n", ctype(&o, k->vars[v].type), o.vname[v]);
        fputs("};\n", f);
        for (int i = 0; i < npar; i++) {
            const Stmt *s = par[i];
            fprintf(f, "\nstatic void %s_par%d(void *ctx_, %s lo_, %s hi_)\n{\n", name, i, dl->index_type,
                    dl->index_type);
            fprintf(f, "    const struct %s_ctx *c_ = ctx_;\n", name);
            for (int j = 0; j < nuse; j++) {
                const Buffer *bf = &p->bufs[use[j].buf];
                if (bf->kind != BUF_LOCAL)
                    fprintf(f, "    %s%s *%s %s = c_->%s;\n", use[j].rw & KU_WRITE ? "" : "const ",
                            dtype_ctype(bf->dtype), dl->restrict_kw, o.bname[use[j].buf], o.bname[use[j].buf]);
            }
            for (int j = 0; j < nuse; j++)
                if (p->bufs[use[j].buf].kind != BUF_LOCAL)
                    fprintf(f, "    (void)%s;\n", o.bname[use[j].buf]);
            for (int j = 0; j < o.par_nin[i]; j++) {
                int v = o.par_in[i][j];
                fprintf(f, "    const %s %s = c_->%s;\n", ctype(&o, k->vars[v].type), o.vname[v], o.vname[v]);
            }
            declare_locals(&o, s, 1, a);
            const char *v = o.vname[s->var];
            if (s->comment && !key)
                cemit_comment(f, 1, s->comment);
            fprintf(f, "    for (%s %s = lo_; %s < hi_; %s++) {\n", dl->index_type, v, v, v);
            block(&o, s->body, 2);
            fputs("    }\n}\n", f);
        }
        fputc('\n', f);
    }
    if (k->comment && !key)
        cemit_comment(f, 0, k->comment);
    signature(&o, decl, name, "\n{\n");
    /* locals used outside the outlined loops, each declared once */
    for (int i = 0; i < nuse; i++) {
        const Buffer *bf = &p->bufs[use[i].buf];
        int used = 0;
        for (const Stmt *s = k->body; s && !used && bf->kind == BUF_LOCAL; s = s->next) {
            KUse *u;
            int nu = is_par(s) ? 0 : block_uses(s, 1, a, &u);
            for (int j = 0; j < nu; j++)
                used |= u[j].buf == use[i].buf;
        }
        if (used)
            fprintf(f, "    %s %s[%lld] __attribute__((aligned(64)));\n", dtype_ctype(bf->dtype),
                    o.bname[use[i].buf], (long long)bf->numel);
    }
    block(&o, k->body, 1);
    fputs("}\n", f);
}

/* pre in capitals: the header's macro prefix ("MODEL"). */
static const char *up_of(Arena *a, const char *pre)
{
    char *up = arena_strdup(a, pre);
    for (char *c = up; *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    return up;
}

/* C expression for the start of buffer b in model_run. */
static void buf_ptr(FILE *f, const Buffer *b, int writable)
{
    const char *q = writable ? "" : "const ";
    switch (b->kind) {
    case BUF_INPUT:
        fprintf(f, "(%s%s *)inputs[%d]", q, dtype_ctype(b->dtype), b->index);
        break;
    case BUF_OUTPUT:
        fprintf(f, "(%s *)outputs[%d]", dtype_ctype(b->dtype), b->index);
        break;
    case BUF_WEIGHT:
        fprintf(f, "(const %s *)(w + %lld)", dtype_ctype(b->dtype), (long long)b->offset);
        break;
    case BUF_ARENA:
        fprintf(f, "(%s *)(mem + %lld)", dtype_ctype(b->dtype), (long long)b->offset);
        break;
    case BUF_LOCAL: /* declared in the kernel */
        break;
    }
}

/* The number of the model's own inputs or outputs the slots list[n] carry. */
static int slot_values(const Program *p, const int *list, int n)
{
    return n ? p->bufs[list[n - 1]].group + 1 : 0;
}

/* " (element of sequence 'x', optional)" and the like, for a slot's comment. */
static void slot_comment(FILE *f, const Buffer *b)
{
    if (b->form & IO_NONE)
        fprintf(f, ", %s: pass NULL", b->form & IO_OPT ? "an absent optional" : "an empty sequence");
    else if (b->form & IO_SEQ)
        fprintf(f, ", an element of %ssequence %d", b->form & IO_OPT ? "an optional " : "", b->group);
    else if (b->form & IO_OPT)
        fputs(", an optional: present, not NULL", f);
}

void cemit_tensor_table(FILE *f, const Program *p, const char *pre, const char *which,
                              const int *bufs, int n)
{
    fprintf(f, "const %s_tensor %s_%s[] = {\n", pre, pre, which);
    for (int i = 0; i < n; i++) {
        const Buffer *b = &p->bufs[bufs[i]];
        fputs("    {\"", f);
        cemit_text(f, b->label);
        fprintf(f, "\", %d, %d, {", (int)b->elem, b->shape.rank);
        for (int d = 0; d < b->shape.rank; d++)
            fprintf(f, "%s%lld", d ? ", " : "", (long long)b->shape.dim[d]);
        fprintf(f, "}, %d, %d},\n", b->group, b->form);
    }
    fputs("    {0, 0, 0, {0}, 0, 0},\n};\n", f);
}

int cemit_header(const Program *p, const char *dir, const char *pre, int profile, int device, const char *extra,
                 Diag *d)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.h", dir, pre);
    FILE *f = fopen(path, "w");
    if (!f)
        return diag_error(d, "cannot write %s", path);
    char up[64];
    size_t n = 0;
    for (; pre[n] && n < sizeof up - 1; n++)
        up[n] = (char)(pre[n] >= 'a' && pre[n] <= 'z' ? pre[n] - 32 : pre[n]);
    up[n] = 0;
    char sh[160];
    fprintf(f, "/* %s.h: generated by kiln from '", pre);
    cemit_text(f, p->model);
    fputs("'. */\n", f);
    fprintf(f, "#ifndef %s_H\n#define %s_H\n\n#include <stdint.h>\n\n", up, up);
    if (prog_has_strings(p))
        fprintf(f, "/* A string tensor's element: its bytes (UTF-8, not NUL-terminated) and\n"
                   " * their count. Input strings are the caller's; an output's may point into\n"
                   " * an input, the weights or the arena, valid until the next run. */\n"
                   "#ifndef KILN_STR_T\n#define KILN_STR_T\ntypedef struct kiln_str {\n    const char *ptr;\n"
                   "    int64_t len;\n} kiln_str;\n#endif\n"
                   "/* model_run's failures on strings (2 + the string pool's status, kiln_str.h) */\n"
                   "#define %s_ERR_STRING_BYTES 3 /* the strings made need more than kiln's --string-bytes */\n"
                   "#define %s_ERR_STRING_SHAPE 4 /* a data-dependent extent differs from the compiled one */\n"
                   "#define %s_ERR_STRING_REGEX 5 /* a regex match took too many steps */\n\n",
                up, up, up);
    int ndyn = 0;
    for (int i = 0; i < p->noutputs; i++)
        ndyn += prog_out_len(p, i) >= 0;
    if (device && ndyn)
        fprintf(f, "#define %s_ARENA_BYTES %d  /* %s_run keeps its scratch in device memory: arena receives only "
                   "the run-time lengths of outputs (%s_output_shape) */\n",
                up, 8 * ndyn, pre, pre);
    else if (device)
        fprintf(f, "#define %s_ARENA_BYTES 0  /* %s_run keeps its scratch in device memory: arena is unused */\n",
                up, pre);
    else
        fprintf(f, "#define %s_ARENA_BYTES %lld  /* scratch memory %s_run needs, 64-byte aligned */\n", up,
                (long long)p->arena_bytes, pre);
    fprintf(f, "#define %s_WEIGHT_BYTES %lld /* constant data (flash on a board) */\n", up,
            (long long)p->weight_bytes);
    fprintf(f, "#define %s_NUM_INPUTS %d\n#define %s_NUM_OUTPUTS %d\n", up, p->ninputs, up, p->noutputs);
    fprintf(f,
            "/* The model's own inputs and outputs: a sequence is passed as one slot\n"
            " * (inputs[i], outputs[i]) per element, in order; an optional as its\n"
            " * content's slots when present, one NULL slot when absent (whether it is\n"
            " * was fixed at compile time, and %s_run checks it). */\n",
            pre);
    fprintf(f, "#define %s_NUM_INPUT_VALUES %d\n#define %s_NUM_OUTPUT_VALUES %d\n", up,
            slot_values(p, p->inputs, p->ninputs), up, slot_values(p, p->outputs, p->noutputs));
    fprintf(f, "#define %s_IO_SEQ %d  /* form: an element of a sequence */\n", up, IO_SEQ);
    fprintf(f, "#define %s_IO_OPT %d  /* form: an optional's content */\n", up, IO_OPT);
    fprintf(f, "#define %s_IO_NONE %d /* form: nothing (absent optional, empty sequence): NULL */\n", up, IO_NONE);
    fprintf(f, "#define %s_THREADS %d /* threads %s_run uses (kiln_par.h) */\n", up, p->threads > 1 ? p->threads : 1,
            pre);
    fprintf(f, "#define %s_ERR_INPUT_VALUE 1 /* an input differs from the value the model was compiled for */\n",
            up);
    if (device)
        fprintf(f, "#define %s_ERR_DEVICE 2 /* no usable GPU, or a CUDA call failed (said on stderr) */\n", up);
    if (p->status >= 0)
        fprintf(f, "#define %s_ERR_DATA 6 /* an input's data is malformed (a corrupt image) */\n", up);
    fprintf(f, "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    for (int i = 0; i < p->ninputs; i++) {
        const Buffer *b = &p->bufs[p->inputs[i]];
        fprintf(f, "/* input %d '", i);
        cemit_text(f, b->label);
        fprintf(f, "': %s[%s]", dtype_name(b->elem), shape_str(&b->shape, sh, sizeof sh));
        slot_comment(f, b);
        fputs(" */\n", f);
    }
    for (int i = 0; i < p->noutputs; i++) {
        const Buffer *b = &p->bufs[p->outputs[i]];
        fprintf(f, "/* output %d '", i);
        cemit_text(f, b->label);
        fprintf(f, "': %s[%s]", dtype_name(b->elem), shape_str(&b->shape, sh, sizeof sh));
        slot_comment(f, b);
        if (p->out_alias && p->out_alias[i] >= 0)
            fprintf(f, ", updated in place of input %d: pass input %d's buffer", p->out_alias[i], p->out_alias[i]);
        if (prog_out_len(p, i) >= 0)
            fprintf(f, ", dim %d data-dependent: at most %lld, the actual shape from %s_output_shape",
                    p->out_dyn[i], (long long)b->shape.dim[p->out_dyn[i]], pre);
        fprintf(f, " */\n");
    }
    if (device)
        fprintf(f,
                "/* Run the model once on the GPU. inputs[i] and outputs[i] point to dense\n"
                " * row-major tensors of the types above in host memory; arena is unused.\n"
                " * The first call allocates one block of device memory and uploads the\n"
                " * weights into it; each call copies the inputs in, runs the kernels on\n"
                " * one stream and copies the outputs out. Returns 0, %s_ERR_INPUT_VALUE,\n"
                " * or %s_ERR_DEVICE. */\n"
                "int %s_run(const void *const inputs[], void *const outputs[], void *arena);\n"
                "/* The GPU time of the last run's kernels, in ms (CUDA events). */\n"
                "double %s_gpu_ms(void);\n\n",
                up, up, pre, pre);
    else
        fprintf(f,
                "/* Run the model once. inputs[i] and outputs[i] point to dense row-major\n"
                " * tensors of the types above (outputs must not overlap inputs, except\n"
                " * that an output updated in place of an input may be that input's own\n"
                " * buffer; given another, the input is copied into it first); arena to\n"
                " * %s_ARENA_BYTES bytes aligned to 64. Allocates nothing. Returns 0, or\n"
                " * %s_ERR_INPUT_VALUE. */\n"
                "int %s_run(const void *const inputs[], void *const outputs[], void *arena);\n\n",
                up, up, pre);
    fprintf(f,
            "/* Descriptions of the inputs and outputs, for generic drivers; each\n"
            " * list ends with an entry whose name is NULL. dtype is ONNX's code. */\n"
            "typedef struct %s_tensor {\n    const char *name;\n    int dtype;\n    int rank;\n"
            "    int64_t dims[8];\n"
            "    int value; /* the model's input or output this slot carries (its file) */\n"
            "    int form;  /* 0 a tensor, or IO_SEQ, IO_OPT, IO_NONE flags */\n} %s_tensor;\n"
            "extern const %s_tensor %s_inputs[];\nextern const %s_tensor %s_outputs[];\n",
            pre, pre, pre, pre, pre, pre);
    fprintf(f,
            "\n/* The shape output i has after the last %s_run given this arena: its dims\n"
            " * into dims[8]; returns its rank, or -1 when there is no output i. An\n"
            " * output whose extent depends on the data (%s_DYNAMIC_OUTPUTS > 0; its\n"
            " * %s_outputs[i].dims hold the upper bound, which its buffer must hold)\n"
            " * is dense row-major for this shape; the others always have their\n"
            " * %s_outputs[i] shape. */\n"
            "#define %s_DYNAMIC_OUTPUTS %d\n"
            "int %s_output_shape(const void *arena, int i, int64_t dims[8]);\n",
            pre, up, pre, pre, up, ndyn, pre);
    if (profile)
        fprintf(f,
                "\n/* Profiling build: %s_run adds each kernel's time to %s_kernel_ms. */\n"
                "#define %s_PROFILE 1\n#define %s_NUM_KERNELS %d\n"
                "extern const char *const %s_kernel_names[];\nextern double %s_kernel_ms[];\n",
                pre, pre, up, up, p->nkernels, pre, pre);
    if (extra)
        fputs(extra, f);
    fputs("\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n", f);
    return fclose(f) ? diag_error(d, "cannot write %s", path) : 0;
}

int cemit_weights(const Program *p, const char *dir, const char *pre, Diag *d)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        return diag_error(d, "cannot write %s", path);
    int64_t at = 0;
    static const unsigned char zeros[64];
    for (int i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        if (b->kind != BUF_WEIGHT || b->offset < 0)
            continue; /* not a weight, or one no kernel reads */
        while (at < b->offset) {
            int64_t n = b->offset - at > 64 ? 64 : b->offset - at;
            fwrite(zeros, 1, (size_t)n, f);
            at += n;
        }
        size_t bytes = (size_t)(b->numel * dtype_size(b->dtype));
        if (bytes && fwrite(b->data, 1, bytes, f) != bytes) {
            fclose(f);
            return diag_error(d, "cannot write %s", path);
        }
        at += (int64_t)bytes;
    }
    while (at < p->weight_bytes) {
        fputc(0, f);
        at++;
    }
    if (fclose(f))
        return diag_error(d, "cannot write %s", path);

    snprintf(path, sizeof path, "%s/weights.S", dir);
    f = fopen(path, "w");
    if (!f)
        return diag_error(d, "cannot write %s", path);
    fprintf(f,
            "/* weights.S: the model's constants, weights.bin, as read-only data. */\n"
            "    .section .rodata\n"
            "    .balign 64\n"
            "    .global %s_weights\n"
            "%s_weights:\n"
            "    .incbin \"weights.bin\"\n"
            "    .byte 0\n"
            "    .section .note.GNU-stack,\"\",%%progbits\n",
            pre, pre);
    return fclose(f) ? diag_error(d, "cannot write %s", path) : 0;
}

/* A kernel's printed length, for placing kernels in files. */
typedef struct KLen {
    size_t len;
    int k;
} KLen;

/* Longest first; equal lengths in kernel order (a stable placement). */
static int by_len_desc(const void *x, const void *y)
{
    const KLen *a = x, *b = y;
    if (a->len != b->len)
        return a->len < b->len ? 1 : -1;
    return (a->k > b->k) - (a->k < b->k);
}

/* Kernel k printed into arena memory (*len bytes, NUL-terminated); NULL if
 * out of memory. */
static char *print_kernel(const Program *p, const Kernel *k, const Dialect *dl, Arena *a, const char **bname,
                          const char *decl, const char *name, int key, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    if (!m)
        return NULL;
    cemit_kernel(m, p, k, dl, a, bname, decl, name, 0, key);
    if (fclose(m)) {
        free(buf);
        return NULL;
    }
    char *text = arena_alloc(a, n + 1);
    memcpy(text, buf, n + 1);
    free(buf);
    *len = n;
    return text;
}

/* same[i]: the first kernel whose key (its text with positional names and
 * no comments) is kernel i's. The key includes the signature (each
 * buffer's type, constness and order) and the local buffers' sizes, so a
 * call of kernel same[i] with kernel i's buffers computes what kernel i
 * would. Keys are compared by a hash, then in full. 0, or 1 if out of
 * memory. */
int cemit_share(const Program *p, const Dialect *dl, Arena *a, int *same)
{
    int nk = p->nkernels;
    const char **bname = arena_alloc(a, sizeof(char *) * (size_t)(p->nbufs + 1));
    char **key = arena_alloc(a, sizeof(char *) * (size_t)(nk + 1));
    size_t *klen = arena_alloc(a, sizeof(size_t) * (size_t)(nk + 1));
    size_t cap = 16;
    while (cap < 2 * (size_t)nk)
        cap *= 2;
    int *table = arena_alloc(a, sizeof(int) * cap); /* open addressing: kernel + 1, 0 empty */
    memset(table, 0, sizeof(int) * cap);
    for (int i = 0; i < nk; i++) {
        key[i] = print_kernel(p, &p->kernels[i], dl, a, bname, "void", "K", 1, &klen[i]);
        if (!key[i])
            return 1;
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (size_t j = 0; j < klen[i]; j++)
            h = (h ^ (unsigned char)key[i][j]) * 1099511628211ull;
        same[i] = i;
        size_t slot = (size_t)h & (cap - 1);
        for (; table[slot]; slot = (slot + 1) & (cap - 1)) {
            int j = table[slot] - 1;
            if (klen[j] == klen[i] && !memcmp(key[j], key[i], klen[i])) {
                same[i] = j;
                break;
            }
        }
        if (same[i] == i)
            table[slot] = i + 1;
    }
    return 0;
}

int cemit_share_kernels(const Program *p, Arena *a, int *same) { return cemit_share(p, &c_dialect, a, same); }

void cemit_output_shape(FILE *f, const Program *p, const char *pre, int device)
{
    fprintf(f, "\nint %s_output_shape(const void *arena, int i, int64_t dims[8])\n{\n", pre);
    fprintf(f, "    /* where each output's run-time length is in arena (-1: none), and its dim */\n");
    fprintf(f, "    static const int64_t len_at[%d] = {", p->noutputs + 1);
    for (int i = 0, j = 0; i < p->noutputs; i++) {
        int lb = prog_out_len(p, i);
        fprintf(f, "%lld, ", lb < 0 ? -1ll : device ? 8ll * j++ : (long long)p->bufs[lb].offset);
    }
    fprintf(f, "-1};\n    static const int dyn[%d] = {", p->noutputs + 1);
    for (int i = 0; i < p->noutputs; i++)
        fprintf(f, "%d, ", prog_out_len(p, i) >= 0 ? p->out_dyn[i] : -1);
    fprintf(f, "-1};\n");
    fprintf(f, "    if (i < 0 || i >= %d)\n        return -1;\n", p->noutputs);
    fprintf(f, "    memcpy(dims, %s_outputs[i].dims, sizeof %s_outputs[i].dims);\n", pre, pre);
    fprintf(f, "    if (len_at[i] >= 0)\n"
               "        memcpy(&dims[dyn[i]], (const unsigned char *)arena + len_at[i], sizeof(int64_t));\n");
    fprintf(f, "    (void)arena;\n    return %s_outputs[i].rank;\n}\n", pre);
}

void cemit_guards(FILE *f, const Program *p, const char *w, const char *fail)
{
    for (int i = 0; i < p->ninputs; i++) {
        /* compiled for a present optional, or an absent one */
        const Buffer *in = &p->bufs[p->inputs[i]];
        if (!(in->form & (IO_OPT | IO_NONE)))
            continue;
        int none = (in->form & IO_NONE) != 0;
        fputs(none ? "    /* compiled for no value of input '" : "    /* compiled for a value of input '", f);
        cemit_text(f, in->label);
        fprintf(f, "' */\n    if (inputs[%d] %s NULL)\n        return %s;\n", in->index, none ? "!=" : "==", fail);
    }
    for (int i = 0; i < p->nguards; i++) {
        const Buffer *in = &p->bufs[p->guard_in[i]], *wb = &p->bufs[p->guard_w[i]];
        int whole = wb->numel == in->numel;
        fputs(whole ? "    /* compiled for one value of input '" : "    /* compiled for the first bytes of input '", f);
        cemit_text(f, in->label);
        fputs(whole ? "' */\n" : "' (an image header) */\n", f);
        fprintf(f, "    if (memcmp(inputs[%d], %s + %lld, %lld))\n        return %s;\n", in->index, w,
                (long long)wb->offset, (long long)(wb->numel * dtype_size(wb->dtype)), fail);
    }
}

/* The headers a C file of p's kernels includes first. */
static void c_includes(FILE *f, const Program *p)
{
    fprintf(f, "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n\n");
    int half = 0;
    for (int i = 0; i < p->nbufs; i++)
        half |= dtype_is_half(p->bufs[i].dtype);
    if (half)
        fprintf(f, "#include \"kiln_f16.h\" /* f16/bf16 stored as bits, computed in float */\n");
    if (prog_has_strings(p))
        fprintf(f, "#include \"kiln_str.h\" /* string records and the routines kernels call */\n");
}

int cemit_host(const Program *p, const char *dir, const char *pre, Diag *d)
{
    if (!prog_host_kernels(p))
        return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s_host.c", dir, pre);
    FILE *f = fopen(path, "w");
    if (!f)
        return diag_error(d, "cannot write %s", path);
    Arena *a = arena_new();
    fprintf(f, "/* %s_host.c: generated by kiln from '", pre);
    cemit_text(f, p->model);
    fputs("'. Do not edit.\n * The kernels this GPU program runs on the host CPU (string records, runtime\n"
          " * routines), called by model_run on host copies of their buffers. */\n", f);
    c_includes(f, p);
    unsigned char need[H_COUNT][128];
    memset(need, 0, sizeof need);
    for (int i = 0; i < p->nkernels; i++)
        if (p->kernels[i].host)
            need_block(need, p->kernels[i].body);
    emit_helpers(f, need, &c_dialect);
    emit_routines(f, p);
    const char **bname = arena_alloc(a, sizeof(char *) * (size_t)(p->nbufs + 1));
    for (int i = 0; i < p->nkernels; i++)
        if (p->kernels[i].host)
            cemit_kernel(f, p, &p->kernels[i], &c_dialect, a, bname, "static void", p->kernels[i].name, 0, 0);
    fprintf(f, "\n/* Run host kernel k (its index in the program) on its buffers b[], in the\n"
               " * order of its parameters. */\nvoid %s_host_run(int k, void *const b[]);\n", pre);
    fprintf(f, "void %s_host_run(int k, void *const b[])\n{\n    switch (k) {\n", pre);
    for (int i = 0; i < p->nkernels; i++) {
        const Kernel *k = &p->kernels[i];
        if (!k->host)
            continue;
        KUse *use;
        int nuse = kernel_uses(k, a, &use);
        fprintf(f, "    case %d:\n        %s(", i, k->name);
        for (int j = 0, n = 0; j < nuse; j++)
            if (p->bufs[use[j].buf].kind != BUF_LOCAL)
                fprintf(f, "%sb[%d]", n ? ", " : "", n), n++;
        fputs(");\n        break;\n", f);
    }
    fputs("    }\n}\n", f);
    arena_free(a);
    return fclose(f) ? diag_error(d, "cannot write %s", path) : 0;
}

int cemit_program(const Program *p, const char *dir, const EmitOptions *opt, Diag *d)
{
    const char *pre = opt && opt->prefix ? opt->prefix : "model";
    int profile = opt && opt->profile, ext = opt && opt->extern_kernels;
    if (cemit_header(p, dir, pre, profile, 0, NULL, d) || cemit_weights(p, dir, pre, d))
        return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.c", dir, pre);
    FILE *f = fopen(path, "w");
    if (!f)
        return diag_error(d, "cannot write %s", path);
    Arena *a = arena_new();
    fprintf(f, "/* %s.c: generated by kiln from '", pre);
    cemit_text(f, p->model);
    fputs("'. Do not edit. */\n", f);
    c_includes(f, p);
    unsigned char need[H_COUNT][128];
    memset(need, 0, sizeof need);
    for (int i = 0; i < p->nkernels; i++)
        need_block(need, p->kernels[i].body);
    if (need[H_VEC][0] && !ext)
        fprintf(f, "#include \"kiln_vec.h\" /* vector types and math */\n");
    if (prog_parallel(p) && !ext)
        fprintf(f, "#include \"kiln_par.h\" /* the thread pool */\n");
    fprintf(f, "#include \"%s.h\"\n\n", pre);
    fprintf(f, "extern const unsigned char %s_weights[]; /* weights.S */\n\n", pre);
    int nk = p->nkernels, nparts = 1;
    int *same = arena_alloc(a, sizeof(int) * (size_t)(nk + 1));
    const char **bname = arena_alloc(a, sizeof(char *) * (size_t)(p->nbufs + 1));
    /* kernels that print the same but for names (repeated blocks of a
     * network) share one function: same[i] is the first such kernel */
    if (cemit_share(p, &c_dialect, a, same)) {
        fclose(f);
        arena_free(a);
        return diag_error(d, "out of memory printing the kernels");
    }
    if (ext) {
        /* the kernels are another target's (an object file, which holds
         * the shared ones once, as here): declared here under their
         * prefixed names */
        fprintf(f, "/* The kernels, built by another code generator into %s. */\n", opt->extern_kernels);
        for (int i = 0; i < nk; i++)
            if (same[i] == i)
                cemit_kernel(f, p, &p->kernels[i], &c_dialect, a, bname, "void",
                             arena_printf(a, "%s_%s", pre, p->kernels[i].name), 1, 0);
        goto run;
    }
    emit_helpers(f, need, &c_dialect);
    emit_routines(f, p);
    /* each kernel's text, then the files they go to: a large program is
     * split over several, which build.sh compiles in parallel */
    char **text = arena_alloc(a, sizeof(char *) * (size_t)(nk + 1));
    size_t *len = arena_alloc(a, sizeof(size_t) * (size_t)(nk + 1)), total = 0;
    for (int pass = 0; pass < 2; pass++) {
        total = 0;
        for (int i = 0; i < nk; i++) {
            const char *name = nparts > 1 ? arena_printf(a, "%s_%s", pre, p->kernels[i].name) : p->kernels[i].name;
            len[i] = 0;
            if (same[i] != i)
                continue;
            text[i] = print_kernel(p, &p->kernels[i], &c_dialect, a, bname, nparts > 1 ? "void" : "static void", name, 0,
                                   &len[i]);
            if (!text[i]) {
                fclose(f);
                arena_free(a);
                return diag_error(d, "out of memory printing the kernels");
            }
            total += len[i];
        }
        int want = total > PART_BYTES ? (int)(total / PART_BYTES + 1) : 1;
        if (want > MAX_PARTS)
            want = MAX_PARTS;
        if (want == nparts)
            break;
        nparts = want; /* print again with extern, prefixed names */
    }
    int *part = arena_alloc(a, sizeof(int) * (size_t)(nk + 1));
    size_t load[MAX_PARTS] = {0};
    /* largest kernel first, each to the lightest file */
    KLen *order = arena_alloc(a, sizeof(KLen) * (size_t)(nk + 1));
    for (int i = 0; i < nk; i++)
        order[i] = (KLen){len[i], i};
    qsort(order, (size_t)nk, sizeof *order, by_len_desc);
    for (int done = 0; done < nk; done++) {
        int big = order[done].k, to = 0;
        for (int j = 1; j < nparts; j++)
            if (load[j] < load[to])
                to = j;
        part[big] = to + 1; /* 0 means unplaced */
        load[to] += len[big];
    }
    for (int i = 0; i < nk; i++)
        if (part[i] != 1 && same[i] == i)
            cemit_kernel(f, p, &p->kernels[i], &c_dialect, a, bname, "void",
                           arena_printf(a, "%s_%s", pre, p->kernels[i].name), 1, 0);
    for (int i = 0; i < nk; i++)
        if (part[i] == 1 && same[i] == i)
            fwrite(text[i], 1, len[i], f);
    for (int j = 2; j <= nparts; j++) {
        char ppath[4096];
        snprintf(ppath, sizeof ppath, "%s/%s_%d.c", dir, pre, j - 1);
        FILE *pf = fopen(ppath, "w");
        if (!pf) {
            fclose(f);
            arena_free(a);
            return diag_error(d, "cannot write %s", ppath);
        }
        fprintf(pf, "/* %s_%d.c: kernels of %s.c, in a file of their own so that they compile in parallel. */\n",
                pre, j - 1, pre);
        c_includes(pf, p);
        if (need[H_VEC][0])
            fprintf(pf, "#include \"kiln_vec.h\"\n");
        if (prog_parallel(p))
            fprintf(pf, "#include \"kiln_par.h\"\n");
        fputc('\n', pf);
        emit_helpers(pf, need, &c_dialect);
        emit_routines(pf, p);
        for (int i = 0; i < nk; i++)
            if (part[i] == j && same[i] == i)
                fwrite(text[i], 1, len[i], pf);
        if (fclose(pf)) {
            fclose(f);
            arena_free(a);
            return diag_error(d, "cannot write %s", ppath);
        }
    }
run:
    fprintf(f, "\n");
    cemit_tensor_table(f, p, pre, "inputs", p->inputs, p->ninputs);
    cemit_tensor_table(f, p, pre, "outputs", p->outputs, p->noutputs);
    if (profile) {
        fprintf(f, "\ndouble kiln_now_ms(void); /* kiln_rt.c */\ndouble %s_kernel_ms[%d];\n", pre,
                p->nkernels + 1);
        fprintf(f, "const char *const %s_kernel_names[] = {\n", pre);
        for (int i = 0; i < p->nkernels; i++)
            fprintf(f, "    \"%s\",\n", p->kernels[i].name);
        fprintf(f, "    0,\n};\n");
    }
    fprintf(f, "\nint %s_run(const void *const inputs[], void *const outputs[], void *arena)\n{\n", pre);
    fprintf(f, "    unsigned char *mem = arena;\n    const unsigned char *w = %s_weights;\n", pre);
    fprintf(f, "    (void)inputs; (void)outputs; (void)mem; (void)w;\n");
    cemit_guards(f, p, "w", "1");
    if (p->str_pool >= 0)
        fprintf(f, "    /* the string pool: nothing made yet, no error */\n    memset(mem + %lld, 0, KILN_STR_HEAD);\n",
                (long long)p->bufs[p->str_pool].offset);
    if (p->status >= 0)
        fprintf(f, "    /* the run status: no malformed data yet */\n    *(int64_t *)(mem + %lld) = 0;\n",
                (long long)p->bufs[p->status].offset);
    for (int i = 0; p->out_alias && i < p->noutputs; i++) {
        int j = p->out_alias[i];
        if (j < 0)
            continue;
        const Buffer *ob = &p->bufs[p->outputs[i]];
        fprintf(f, "    /* output %d is computed in place of input %d */\n", i, j);
        fprintf(f, "    if (outputs[%d] != inputs[%d])\n        memcpy(outputs[%d], inputs[%d], %lld);\n", i, j, i,
                j, (long long)(ob->numel * dtype_size(ob->dtype)));
    }
    for (int i = 0; i < p->nkernels; i++) {
        const Kernel *k = &p->kernels[i];
        KUse *use;
        int nuse = kernel_uses(k, a, &use);
        if (profile)
            fprintf(f, "    double t%d = kiln_now_ms();\n", i);
        const char *fn = p->kernels[same[i]].name;
        if (same[i] != i)
            fprintf(f, "    /* %s */\n", k->name);
        fprintf(f, "    %s(", nparts > 1 || ext ? arena_printf(a, "%s_%s", pre, fn) : fn);
        for (int j = 0, n = 0; j < nuse; j++) {
            if (p->bufs[use[j].buf].kind == BUF_LOCAL)
                continue;
            if (n++)
                fputs(", ", f);
            buf_ptr(f, &p->bufs[use[j].buf], use[j].rw & KU_WRITE);
        }
        fputs(");\n", f);
        if (profile)
            fprintf(f, "    %s_kernel_ms[%d] += kiln_now_ms() - t%d;\n", pre, i, i);
    }
    if (p->str_pool >= 0)
        fprintf(f, "    if (((const int64_t *)(mem + %lld))[1]) /* %s_ERR_STRING_* */\n"
                   "        return 2 + (int)((const int64_t *)(mem + %lld))[1];\n",
                (long long)p->bufs[p->str_pool].offset, up_of(a, pre), (long long)p->bufs[p->str_pool].offset);
    if (p->status >= 0)
        fprintf(f, "    if (*(const int64_t *)(mem + %lld))\n        return %s_ERR_DATA;\n",
                (long long)p->bufs[p->status].offset, up_of(a, pre));
    fputs("    return 0;\n}\n", f);
    cemit_output_shape(f, p, pre, 0);
    arena_free(a);
    return fclose(f) ? diag_error(d, "cannot write %s", path) : 0;
}

