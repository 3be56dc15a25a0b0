/*
 * compare.h: what compare.c (kiln compare OP, the operator mode) shares
 * with model.c (kiln compare MODEL.onnx --kernel NAME, the model mode).
 */
#ifndef KILN_COMPARE_H
#define KILN_COMPARE_H

#include "../driver.h"

/* One line "kiln compare: ... (kiln compare --help)" on stderr; returns 2. */
int cmp_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A decimal integer in [lo, hi] / a finite number; 0, or 1 when s is not one. */
int cmp_parse_int(const char *s, long lo, long hi, long *out);
int cmp_parse_num(const char *s, double *out);
/* --ref FILE.c:FUNC: the file's absolute path (an existing regular file)
 * and FUNC (a C identifier the harness may call); 0, or 2 after a usage
 * line. */
int cmp_parse_ref(Arena *a, const char *val, const char **out_file, const char **out_func);
/* argv of the C compiler: $CC (its words) or cc, then the words of flags;
 * returns the count (at most max - 1), argv NULL-terminated. */
int cmp_cc_argv(Arena *a, const char *flags, char **argv, int max);
/* Run argv in dir, its output appended to dir/log; on failure a message
 * naming `what`, the log and its first error line. */
int cmp_run_step(Arena *a, char **argv, const char *dir, const char *log, const char *what, Diag *d);

/* model.c: kiln compare MODEL.onnx --kernel NAME|list [--ref FILE.c:FUNC] ...
 * (argv: the arguments after "compare"). */
int cmd_compare_model(int argc, char **argv);

#endif
