/*
 * nollvm.c: the LLVM target's entry points in a kiln built without LLVM
 * (meson found no llvm-config-19): each says so in one line and fails.
 */
#include "../target.h"

int llvm_available(void) { return 0; }

int llvm_program(const Program *p, const char *dir, const EmitOptions *o, Diag *d)
{
    (void)p, (void)dir, (void)o;
    return diag_error(d, "this kiln was built without LLVM: --target llvm is not available");
}

int llvm_dump(const Program *p, const EmitOptions *o, void *file, Diag *d)
{
    (void)p, (void)o, (void)file;
    return diag_error(d, "this kiln was built without LLVM: --dump llvm is not available");
}

int ptx_program(const Program *p, const char *dir, const EmitOptions *o, Diag *d)
{
    (void)p, (void)dir, (void)o;
    return diag_error(d, "this kiln was built without LLVM: --target ptx is not available");
}

int ptx_dump(const Program *p, const EmitOptions *o, void *file, Diag *d)
{
    (void)p, (void)o, (void)file;
    return diag_error(d, "this kiln was built without LLVM: --dump ptx is not available");
}
