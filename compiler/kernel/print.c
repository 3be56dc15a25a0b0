/*
 * print.c: --dump kernel, the Kernel IR as stable text.
 *
 *   buf b2 'y' output 0 f32[1x4x8x8]
 *   kernel k0_conv1_relu1
 *     for n < 1:
 *       let acc:f32 = 0.0
 *       store b2[n*256 + c*64 + h*8 + w] = max(acc, 0.0)
 *
 * Constants print with their type unless it is f32 or index; expressions
 * print fully parenthesized, so the text is unambiguous for golden tests.
 */
#include "kernel.h"

#include <stdio.h>
#include <string.h>

static const char *loop_kinds[] = {"for", "parallel", "vector", "unroll", "gpu_block", "gpu_thread"};
static const char *buf_kinds[] = {"input", "output", "weight", "arena", "local"};
static const char *iter_kinds[] = {"", " [data]", " [reduce]"};

static void print_expr(FILE *f, const Program *p, const Kernel *k, const Expr *e)
{
    switch (e->kind) {
    case E_CONST:
        if (dtype_is_float(e->type)) {
            char buf[64];
            snprintf(buf, sizeof buf, "%.9g", e->f);
            if (!strpbrk(buf, ".eni"))
                strcat(buf, ".0");
            fputs(buf, f);
        } else {
            fprintf(f, "%lld", (long long)e->i);
        }
        if (e->type != DT_F32 && e->type != DT_INDEX)
            fprintf(f, ":%s", dtype_name(e->type));
        break;
    case E_VAR:
        fputs(k->vars[e->var].name, f);
        break;
    case E_LOAD:
        fprintf(f, "b%d[", e->buf);
        print_expr(f, p, k, e->a);
        if (e->b) {
            fputs(" if ", f);
            print_expr(f, p, k, e->b);
        }
        fputc(']', f);
        break;
    case E_RAMP:
        fputs("ramp(", f);
        print_expr(f, p, k, e->a);
        fprintf(f, ", %lld, %d)", (long long)e->i, e->lanes);
        break;
    case E_HREDUCE:
        fprintf(f, "h%s(", binop_name((BinOp)e->op));
        print_expr(f, p, k, e->a);
        fputc(')', f);
        break;
    case E_UNARY:
        fprintf(f, "%s(", unop_name((UnOp)e->op));
        print_expr(f, p, k, e->a);
        fputc(')', f);
        break;
    case E_BINARY:
        if (binop_c((BinOp)e->op) && e->op != B_XOR) {
            fputc('(', f);
            print_expr(f, p, k, e->a);
            fprintf(f, " %s ", binop_c((BinOp)e->op));
            print_expr(f, p, k, e->b);
            fputc(')', f);
        } else {
            fprintf(f, "%s(", binop_name((BinOp)e->op));
            print_expr(f, p, k, e->a);
            fputs(", ", f);
            print_expr(f, p, k, e->b);
            fputc(')', f);
        }
        break;
    case E_SELECT:
        fputs("select(", f);
        print_expr(f, p, k, e->a);
        fputs(", ", f);
        print_expr(f, p, k, e->b);
        fputs(", ", f);
        print_expr(f, p, k, e->c);
        fputc(')', f);
        break;
    case E_BITCAST:
        fprintf(f, "bits_%s(", dtype_name(e->type));
        print_expr(f, p, k, e->a);
        fputc(')', f);
        break;
    case E_CAST:
        fprintf(f, "%s(", dtype_name(e->type));
        print_expr(f, p, k, e->a);
        fputc(')', f);
        break;
    case E_BCAST:
        fprintf(f, "bcast%d(", e->lanes);
        print_expr(f, p, k, e->a);
        fputc(')', f);
        break;
    }
}

static void indent(FILE *f, int depth)
{
    for (int i = 0; i < depth; i++)
        fputs("  ", f);
}

static void print_block(FILE *f, const Program *p, const Kernel *k, const Stmt *s, int depth)
{
    for (; s; s = s->next) {
        for (const char *c = s->comment; c && *c;) {
            int n = (int)strcspn(c, "\n");
            indent(f, depth);
            fprintf(f, "# %.*s\n", n, c);
            c += n + (c[n] == '\n');
        }
        indent(f, depth);
        switch (s->kind) {
        case S_LOOP:
            fprintf(f, "%s %s < ", loop_kinds[s->loop], k->vars[s->var].name);
            print_expr(f, p, k, s->extent);
            fprintf(f, "%s:\n", iter_kinds[s->iter]);
            print_block(f, p, k, s->body, depth + 1);
            break;
        case S_STORE:
            fprintf(f, "store b%d[", s->buf);
            print_expr(f, p, k, s->index);
            if (s->mask) {
                fputs(" if ", f);
                print_expr(f, p, k, s->mask);
            }
            fputs("] = ", f);
            print_expr(f, p, k, s->value);
            fputc('\n', f);
            break;
        case S_LET:
            fprintf(f, "let %s:%s", k->vars[s->var].name, dtype_name(k->vars[s->var].type));
            if (k->vars[s->var].lanes > 1)
                fprintf(f, "x%d", k->vars[s->var].lanes);
            fputs(" = ", f);
            print_expr(f, p, k, s->value);
            fputc('\n', f);
            break;
        case S_ASSIGN:
            fprintf(f, "%s = ", k->vars[s->var].name);
            print_expr(f, p, k, s->value);
            fputc('\n', f);
            break;
        case S_IF:
            fputs("if ", f);
            print_expr(f, p, k, s->value);
            fputs(":\n", f);
            print_block(f, p, k, s->body, depth + 1);
            if (s->els) {
                indent(f, depth);
                fputs("else:\n", f);
                print_block(f, p, k, s->els, depth + 1);
            }
            break;
        case S_CALL:
            /* loads are addresses; the written ones after "->" */
            fprintf(f, "call %s(", s->routine);
            for (int i = 0; i < s->nargs; i++) {
                fputs(i == s->nargs - s->nout ? (i ? " -> " : "-> ") : i ? ", " : "", f);
                if (s->args[i]->kind == E_LOAD)
                    fputc('&', f);
                print_expr(f, p, k, s->args[i]);
            }
            fputs(")\n", f);
            break;
        }
    }
}

void prog_dump(const Program *p, void *file)
{
    FILE *f = file;
    char sh[160];
    fprintf(f, "program arena %lld weights %lld\n", (long long)p->arena_bytes, (long long)p->weight_bytes);
    for (int i = 0; i < p->nbufs; i++) {
        const Buffer *b = &p->bufs[i];
        fprintf(f, "buf b%d '%s' %s", i, b->name, buf_kinds[b->kind]);
        if (b->kind == BUF_INPUT || b->kind == BUF_OUTPUT)
            fprintf(f, " %d", b->index);
        else
            fprintf(f, " @%lld", (long long)b->offset);
        if (b->elem != b->dtype) /* packed into bytes */
            fprintf(f, " %s[%lld] packs %s[%s]", dtype_name(b->dtype), (long long)b->numel, dtype_name(b->elem),
                    b->shape.rank ? shape_str(&b->shape, sh, sizeof sh) : "");
        else
            fprintf(f, " %s[%s]", dtype_name(b->dtype), b->shape.rank ? shape_str(&b->shape, sh, sizeof sh) : "");
        if (b->kind == BUF_ARENA && b->first < 0)
            fprintf(f, " unused"); /* its value went into another buffer (inplace.c) */
        else if (b->kind == BUF_ARENA && b->last >= p->nkernels)
            fprintf(f, " live k%d..end", b->first); /* read after the kernels (an output's length) */
        else if (b->kind == BUF_ARENA)
            fprintf(f, " live k%d..k%d", b->first, b->last);
        if ((b->kind == BUF_INPUT || b->kind == BUF_OUTPUT) && (b->form || b->group != b->index))
            fprintf(f, " slot of %d%s%s%s", b->group, b->form & IO_SEQ ? " seq" : "", b->form & IO_OPT ? " opt" : "",
                    b->form & IO_NONE ? " none" : "");
        if (b->kind == BUF_OUTPUT && p->out_alias && p->out_alias[b->index] >= 0)
            fprintf(f, " in place of input %d", p->out_alias[b->index]);
        if (b->kind == BUF_OUTPUT && prog_out_len(p, b->index) >= 0)
            fprintf(f, " dim %d at most %lld: length in b%d", p->out_dyn[b->index],
                    (long long)b->shape.dim[p->out_dyn[b->index]], prog_out_len(p, b->index));
        if (i == p->str_pool)
            fprintf(f, " string pool");
        if (i == p->status)
            fprintf(f, " run status");
        fputc('\n', f);
    }
    /* inputs checked on entry: whole (specialized) or their first elements */
    for (int i = 0; i < p->nguards; i++)
        fprintf(f, "guard b%d first %lld == b%d\n", p->guard_in[i], (long long)p->bufs[p->guard_w[i]].numel,
                p->guard_w[i]);
    for (int i = 0; i < p->nkernels; i++) {
        const Kernel *k = &p->kernels[i];
        fprintf(f, "kernel %s%s\n", k->name, k->host ? " host" : "");
        print_block(f, p, k, k->body, 1);
    }
}
