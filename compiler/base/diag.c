/*
 * diag.c: error messages as values.
 *
 * Library code reports a failure by filling a Diag and returning 1; only
 * main() prints it and exits. The first error is the one kept: later ones are
 * usually consequences of it.
 */
#include "kiln.h"

#include <stdio.h>

int diag_verror(Diag *d, const char *fmt, va_list ap)
{
    if (d->nerrors++ == 0) {
        int n = snprintf(d->msg, sizeof d->msg, "%s: ", d->file ? d->file : "kiln");
        if (n < 0 || (size_t)n >= sizeof d->msg)
            n = 0;
        vsnprintf(d->msg + n, sizeof d->msg - (size_t)n, fmt, ap);
    }
    return 1;
}

int diag_error(Diag *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(d, fmt, ap);
    va_end(ap);
    return 1;
}

int diag_take(Diag *d, const Diag *src)
{
    if (d->nerrors++ == 0)
        snprintf(d->msg, sizeof d->msg, "%s", src->msg);
    return 1;
}
