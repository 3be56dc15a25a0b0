/*
 * ptx.c: the PTX target. The kernels are built by targets/llvm's builder
 * (lemit.c, lexpr.c) with LG.gpu set -- PTX entry functions (the
 * ptx_kernel calling convention), GPU loops on the NVVM special
 * registers, math as calls of libdevice's __nv_ functions -- into a module
 * for nvptx64-nvidia-cuda, sm_90. When the kernels call math, CUDA's
 * libdevice (nvvm/libdevice/libdevice.10.bc of the toolkit; KILN_LIBDEVICE
 * names another) is linked in and everything but the kernels made
 * internal, so the optimizer keeps only what is called; without libdevice
 * such a model is refused with a message naming the function (kernels
 * without math need nothing of CUDA). The module is optimized
 * ("default<O3>"), its kernel parameters lowered to the global address
 * space by NVPTX's own passes, and written as PTX text with
 * LLVMTargetMachineEmitToMemoryBuffer. phost.c prints the host side.
 */
#include "ptx.h"
#include "../llvm/lemit.h"

#include <llvm-c/BitReader.h>
#include <llvm-c/Linker.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char triple[] = "nvptx64-nvidia-cuda";
static const char cpu[] = "sm_90";

void LLVMInitializeNVPTXTargetInfo(void);
void LLVMInitializeNVPTXTarget(void);
void LLVMInitializeNVPTXTargetMC(void);
void LLVMInitializeNVPTXAsmPrinter(void);

static LLVMTargetMachineRef machine(int opt, Diag *d)
{
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
    LLVMTargetRef t;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(triple, &t, &err)) {
        diag_error(d, "this LLVM has no NVPTX target: %s", err ? err : "");
        LLVMDisposeMessage(err);
        return NULL;
    }
    LLVMCodeGenOptLevel level = opt >= 3 ? LLVMCodeGenLevelAggressive : opt == 2 ? LLVMCodeGenLevelDefault
                                : opt == 1 ? LLVMCodeGenLevelLess : LLVMCodeGenLevelNone;
    return LLVMCreateTargetMachine(t, triple, cpu, "", level, LLVMRelocDefault, LLVMCodeModelDefault);
}

/* The first function m calls from libdevice, or NULL. */
static const char *libdevice_call(LLVMModuleRef m)
{
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        size_t n;
        const char *name = LLVMGetValueName2(f, &n);
        if (LLVMIsDeclaration(f) && !strncmp(name, "__nv_", 5))
            return name;
    }
    return NULL;
}

/* Where libdevice is: $KILN_LIBDEVICE, else the toolkit's. */
static const char *libdevice_path(void)
{
    const char *env = getenv("KILN_LIBDEVICE");
    return env && *env ? env : "/usr/local/cuda/nvvm/libdevice/libdevice.10.bc";
}

/* Link libdevice into m when its kernels call it. */
static int link_libdevice(LLVMModuleRef m, LLVMContextRef cx, LLVMTargetMachineRef tm, Diag *d)
{
    const char *need = libdevice_call(m);
    if (!need)
        return 0;
    const char *path = libdevice_path();
    LLVMMemoryBufferRef mb;
    char *err = NULL;
    if (LLVMCreateMemoryBufferWithContentsOfFile(path, &mb, &err)) {
        diag_error(d, "the kernels call %s, CUDA's libdevice, not found at %s (set KILN_LIBDEVICE to "
                      "libdevice.10.bc)", need, path);
        LLVMDisposeMessage(err);
        return 1;
    }
    LLVMModuleRef lib;
    int bad = LLVMParseBitcodeInContext2(cx, mb, &lib);
    LLVMDisposeMemoryBuffer(mb);
    if (bad)
        return diag_error(d, "%s is not LLVM bitcode (libdevice)", path);
    LLVMSetTarget(lib, triple);
    LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
    char *layout = LLVMCopyStringRepOfTargetData(dl);
    LLVMSetDataLayout(lib, layout);
    LLVMDisposeMessage(layout);
    LLVMDisposeTargetData(dl);
    if (LLVMLinkModules2(m, lib)) /* lib is gone either way */
        return diag_error(d, "internal error: linking libdevice (%s) failed", path);
    return 0;
}

/* Everything but the kernels internal: the optimizer drops what nothing
 * calls (most of libdevice). */
static void internalize(LLVMModuleRef m)
{
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
        if (!LLVMIsDeclaration(f) && LLVMGetFunctionCallConv(f) != 71)
            LLVMSetLinkage(f, LLVMInternalLinkage);
    for (LLVMValueRef v = LLVMGetFirstGlobal(m); v; v = LLVMGetNextGlobal(v))
        if (!LLVMIsDeclaration(v))
            LLVMSetLinkage(v, LLVMInternalLinkage);
}

/* The program's kernels as PTX text (*out, *len; free() it), or 1. */
static int build_ptx(const Program *p, const EmitOptions *o, char **out, size_t *len, Diag *d)
{
    LLVMTargetMachineRef tm = machine(o ? o->opt : 3, d);
    if (!tm)
        return 1;
    LLVMContextRef cx = LLVMContextCreate();
    Arena *a = arena_new();
    LLVMModuleRef m;
    int opt = o ? o->opt : 3, rc = lg_build_module(p, o, cx, NULL, a, 1, &m, NULL, d);
    if (!rc) {
        LLVMSetTarget(m, triple);
        LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
        LLVMSetModuleDataLayout(m, dl);
        LLVMDisposeTargetData(dl);
        /* libdevice's __nvvm_reflect("__CUDA_FTZ"): keep denormals */
        LLVMAddModuleFlag(m, LLVMModuleFlagBehaviorOverride, "nvvm-reflect-ftz", 16,
                          LLVMValueAsMetadata(LLVMConstInt(LLVMInt32TypeInContext(cx), 0, 0)));
        rc = link_libdevice(m, cx, tm, d);
        if (!rc) {
            internalize(m);
            LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
            LLVMPassBuilderOptionsSetLoopVectorization(po, 0);
            LLVMPassBuilderOptionsSetSLPVectorization(po, 0);
            LLVMPassBuilderOptionsSetLoopUnrolling(po, opt >= 2);
            char passes[32];
            snprintf(passes, sizeof passes, "default<O%d>", opt < 0 ? 0 : opt > 3 ? 3 : opt);
            LLVMErrorRef e = LLVMRunPasses(m, passes, tm, po);
            LLVMDisposePassBuilderOptions(po);
            if (e) {
                char *msg = LLVMGetErrorMessage(e);
                rc = diag_error(d, "internal error: LLVM's %s pipeline failed: %s", passes, msg);
                LLVMDisposeErrorMessage(msg);
            }
        }
        LLVMMemoryBufferRef mb = NULL;
        char *err = NULL;
        if (!rc && LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMAssemblyFile, &err, &mb)) {
            rc = diag_error(d, "internal error: NVPTX could not write the kernels: %s", err ? err : "");
            LLVMDisposeMessage(err);
        }
        if (!rc) {
            size_t n = LLVMGetBufferSize(mb);
            const char *s = LLVMGetBufferStart(mb);
            while (n && !s[n - 1]) /* the buffer may hold a terminating NUL */
                n--;
            *out = malloc(n + 1);
            if (*out) {
                memcpy(*out, s, n);
                (*out)[n] = 0;
                *len = n;
            } else {
                rc = diag_error(d, "out of memory");
            }
        }
        if (mb)
            LLVMDisposeMemoryBuffer(mb);
        LLVMDisposeModule(m);
    }
    LLVMDisposeTargetMachine(tm);
    arena_free(a);
    LLVMContextDispose(cx);
    return rc;
}

int ptx_program(const Program *p, const char *dir, const EmitOptions *o, Diag *d)
{
    if (o && o->arch && strcmp(o->arch, "host"))
        return diag_error(d, "--target ptx builds for CUDA sm_90 only, not --arch %s", o->arch);
    char *ptx = NULL;
    size_t len = 0;
    if (build_ptx(p, o, &ptx, &len, d))
        return 1;
    int rc = phost_program(p, dir, o, ptx, len, d);
    free(ptx);
    return rc;
}

int ptx_dump(const Program *p, const EmitOptions *o, void *file, Diag *d)
{
    char *ptx = NULL;
    size_t len = 0;
    if (build_ptx(p, o, &ptx, &len, d))
        return 1;
    fwrite(ptx, 1, len, file);
    free(ptx);
    return 0;
}
