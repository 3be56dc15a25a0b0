/*
 * cemit.h: what the C printer's files share (cemit.c prints scalars,
 * statements and files; cvec.c prints vector expressions and stores).
 */
#ifndef KILN_CEMIT_H
#define KILN_CEMIT_H

#include "../target.h"

#include <stdio.h>

typedef struct Dialect {
    const char *kernel_decl;  /* storage and return type of a kernel */
    const char *restrict_kw;  /* pointer qualifier for non-aliasing buffers */
    const char *index_type;   /* C type of DT_INDEX */
} Dialect;

typedef struct Out {
    FILE *f;
    const Dialect *dl;
    const Program *p;
    const Kernel *k;
    const char **vname;  /* [k->nvars] printed variable names */
    const char **bname;  /* [p->nbufs] printed buffer names (those the kernel uses) */
    const char *kname;   /* the kernel's C name (its _ctx struct, its _parI loops) */
    int key;             /* printing the kernel's key: no comments, positional names */
    const KUse *use;     /* the kernel's buffers (kernel_uses) */
    int nuse;
    int npar;            /* parallel loops printed so far */
} Out;

/* C precedence levels, higher binds tighter. */
enum { P_COND = 3, P_OR = 4, P_AND = 5, P_BOR = 6, P_BXOR = 7, P_BAND = 8, P_EQ = 9, P_REL = 10,
       P_SHIFT = 11, P_ADD = 12, P_MUL = 13, P_UNARY = 14, P_POSTFIX = 15 };

/* ------------------------------------------------------------ cemit.c */
/* Print e, parenthesized if its precedence is below `need`. */
void expr(Out *o, const Expr *e, int need);

/* Shared with other targets' host printers (targets/ptx/phost.c): */
/* text from the model inside a C string or comment, escaped */
void cemit_text(FILE *f, const char *s);
/* DIR/PREFIX.h, with `extra` (C declarations, or NULL) before its #endif */
int cemit_header(const Program *p, const char *dir, const char *pre, int profile, const char *extra, Diag *d);
/* DIR/weights.bin and DIR/weights.S */
int cemit_weights(const Program *p, const char *dir, const char *pre, Diag *d);
/* PREFIX_inputs[] and PREFIX_outputs[], the tensor tables of PREFIX.h */
void cemit_tensor_tables(FILE *f, const Program *p, const char *pre);

/* ------------------------------------------------------------- cvec.c */
/* The C vector type of `lanes` elements of t (kiln_vec.h): "kiln_f32x8";
 * DT_INDEX vectors are int64 ones. */
const char *cvec_type(DType t, int lanes);
/* Print vector expression e (lanes > 1). */
void cvec_expr(Out *o, const Expr *e);
/* Print vector store s as one statement (no indent, ends with a newline). */
void cvec_store(Out *o, const Stmt *s);

#endif
