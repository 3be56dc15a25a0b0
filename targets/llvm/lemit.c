/*
 * lemit.c: the LLVM target. Kernel IR -> an LLVM module, built through the
 * LLVM C API, verified, optimized by the new pass manager
 * ("default<O3>" for -O3) and written as an object file for the host CPU
 * or for a board (board.txt's llvm_triple, llvm_cpu, llvm_features).
 *
 * The split: LLVM builds the kernels, the C printer the host side. Each
 * kernel becomes an external function PREFIX_KERNEL(ptr noalias, ...)
 * whose parameters are the buffers it touches (kernel_uses order, as the C
 * target's), into model_kernels.o; cemit_program with extern_kernels
 * writes model.h, the weights and a model.c whose model_run calls those
 * functions, so build.sh links them exactly as it links the C target's
 * output (plus the object); a board's build (targets/boards/build.c)
 * compiles model.c with the board's cc and adds the object to its link or
 * archive. Loops are plain counted loops over allocas
 * (SROA makes them SSA); a parallel loop (not inside another) is
 * outlined into PREFIX_KERNEL_parI(ctx, lo, hi), ctx an array of the
 * buffer pointers and of the addresses of the variables it reads from
 * around it, run by kiln_par_for (runtime/kiln_par.c), as the C target
 * does.
 */
#include "lemit.h"
#include "../boards/board.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <stdio.h>
#include <string.h>

static LLVMTypeRef ptrt(LG *g) { return LLVMPointerTypeInContext(g->cx, 0); }
static LLVMTypeRef idxt(LG *g) { return g->index; }

static void attr(LG *g, LLVMValueRef f, LLVMAttributeIndex at, const char *name)
{
    LLVMAddAttributeAtIndex(f, at, LLVMCreateEnumAttribute(g->cx, LLVMGetEnumAttributeKindForName(name, strlen(name)), 0));
}

static void block(LG *g, const Stmt *s);

/* Start building function f: an entry block that holds the allocas, and a
 * body block where the builder goes. The kernel's local buffers (register
 * tiles) are allocated in every function that may use them. */
static LLVMBasicBlockRef begin_fn(LG *g, LLVMValueRef f)
{
    g->fn = f;
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(g->cx, f, "entry");
    LLVMPositionBuilderAtEnd(g->ab, entry);
    LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->cx, f, "body"));
    g->var = arena_alloc(g->a, sizeof(LLVMValueRef) * (size_t)(g->k->nvars + 1));
    memset(g->var, 0, sizeof(LLVMValueRef) * (size_t)(g->k->nvars + 1));
    g->buf = arena_alloc(g->a, sizeof(LLVMValueRef) * (size_t)(g->p->nbufs + 1));
    memset(g->buf, 0, sizeof(LLVMValueRef) * (size_t)(g->p->nbufs + 1));
    for (int i = 0; i < g->nuse; i++) {
        const Buffer *bf = &g->p->bufs[g->use[i].buf];
        if (bf->kind != BUF_LOCAL)
            continue;
        LLVMValueRef m = LLVMBuildAlloca(g->ab, LLVMArrayType2(lg_store_type(g, bf->dtype), (uint64_t)bf->numel), "");
        LLVMSetAlignment(m, 64);
        g->buf[g->use[i].buf] = m;
    }
    return entry;
}

static void end_fn(LG *g, LLVMBasicBlockRef entry)
{
    LLVMBuildRetVoid(g->b);
    LLVMBuildBr(g->ab, LLVMGetNextBasicBlock(entry));
}

/* Does block s, at any depth, hold a register tile: a block of at least
 * TILE_UPDATES updates of vector variables (contract.c's tile, unrolled
 * and promoted by kiln)? */
enum { TILE_UPDATES = 8 };

static int holds_tile(const Kernel *k, const Stmt *s)
{
    int n = 0;
    for (const Stmt *t = s; t; t = t->next) {
        n += t->kind == S_ASSIGN && k->vars[t->var].lanes > 1;
        if (holds_tile(k, t->body) || holds_tile(k, t->els))
            return 1;
    }
    return n >= TILE_UPDATES;
}

/* Mark back edge br as LLVM's loop not to unroll: a loop around a
 * register tile, whose unrolling kiln decided (LLVM's would keep values of
 * several iterations live across the tile's accumulators, which then
 * spill: MobileNetV2's first convolution ran at 1.8x the C target's). */
static void no_unroll(LG *g, LLVMValueRef br)
{
    LLVMMetadataRef tmp = LLVMTemporaryMDNode(g->cx, NULL, 0);
    LLVMMetadataRef what = LLVMMDStringInContext2(g->cx, "llvm.loop.unroll.disable", 24);
    LLVMMetadataRef opt = LLVMMDNodeInContext2(g->cx, &what, 1);
    LLVMMetadataRef ops[2] = {tmp, opt};
    LLVMMetadataRef id = LLVMMDNodeInContext2(g->cx, ops, 2);
    LLVMMetadataReplaceAllUsesWith(tmp, id); /* the loop's id refers to itself */
    LLVMSetMetadata(br, LLVMGetMDKindIDInContext(g->cx, "llvm.loop", 9), LLVMMetadataAsValue(g->cx, id));
}

/* for var in [lo, hi) by step: body */
static void loop_by(LG *g, const Stmt *s, LLVMValueRef lo, LLVMValueRef hi, LLVMValueRef step)
{
    LLVMValueRef slot = lg_var(g, s->var);
    LLVMBuildStore(g->b, lo, slot);
    LLVMBasicBlockRef cond = LLVMAppendBasicBlockInContext(g->cx, g->fn, "for");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->cx, g->fn, "do");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->cx, g->fn, "done");
    LLVMBuildBr(g->b, cond);
    LLVMPositionBuilderAtEnd(g->b, cond);
    LLVMValueRef i = LLVMBuildLoad2(g->b, idxt(g), slot, "");
    LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, i, hi, ""), body, done);
    LLVMPositionBuilderAtEnd(g->b, body);
    block(g, s->body);
    i = LLVMBuildLoad2(g->b, idxt(g), slot, "");
    LLVMBuildStore(g->b, LLVMBuildNSWAdd(g->b, i, step, ""), slot);
    LLVMValueRef br = LLVMBuildBr(g->b, cond);
    if (!g->gpu && holds_tile(g->k, s->body))
        no_unroll(g, br);
    LLVMPositionBuilderAtEnd(g->b, done);
}

/* for var in [lo, hi): body */
static void loop(LG *g, const Stmt *s, LLVMValueRef lo, LLVMValueRef hi)
{
    loop_by(g, s, lo, hi, LLVMConstInt(idxt(g), 1, 0));
}

/* NVVM special register `reg` ("tid.x") as an index (i64 on NVPTX). */
static LLVMValueRef sreg(LG *g, const char *reg)
{
    char name[64];
    snprintf(name, sizeof name, "llvm.nvvm.read.ptx.sreg.%s", reg);
    LLVMValueRef v = lg_intrinsic(g, name, NULL, 0, NULL, 0);
    return LLVMBuildZExt(g->b, v, idxt(g), "");
}

/* A GPU loop: an L_GPU_BLOCK loop starts at the block's index and steps by
 * the grid's size, an L_GPU_THREAD loop at the thread's index by the
 * block's size, so each iteration runs once whatever the launch (one block
 * of one thread runs them all). */
static void gpu_loop(LG *g, const Stmt *s)
{
    int blk = s->loop == L_GPU_BLOCK;
    LLVMValueRef lo = sreg(g, blk ? "ctaid.x" : "tid.x"), step = sreg(g, blk ? "nctaid.x" : "ntid.x");
    loop_by(g, s, lo, lg_expr(g, s->extent), step);
}

/* Parallel loop s (the kernel's n-th): its body outlined into
 * NAME_parN(ctx, lo, hi), ctx the array of the kernel's buffer pointers
 * and then of the addresses of the variables it reads from around it, and
 * run through kiln_par_for(NAME_parN, ctx, extent). */
static void parallel(LG *g, const Stmt *s, const char *kname, int n)
{
    int np = 0, *in, nin = kernel_stmt_inputs(g->a, g->k, s, &in);
    for (int i = 0; i < g->nuse; i++)
        np += g->p->bufs[g->use[i].buf].kind != BUF_LOCAL;
    LLVMTypeRef arr = LLVMArrayType2(ptrt(g), (uint64_t)(np + nin ? np + nin : 1));
    LLVMValueRef ctx = LLVMBuildAlloca(g->ab, arr, "ctx");
    for (int i = 0, j = 0; i < g->nuse; i++) {
        if (g->p->bufs[g->use[i].buf].kind == BUF_LOCAL)
            continue;
        LLVMValueRef ix[2] = {LLVMConstInt(idxt(g), 0, 0), LLVMConstInt(idxt(g), (unsigned long long)j++, 0)};
        LLVMBuildStore(g->b, g->buf[g->use[i].buf], LLVMBuildGEP2(g->b, arr, ctx, ix, 2, ""));
    }
    for (int i = 0; i < nin; i++) {
        LLVMValueRef ix[2] = {LLVMConstInt(idxt(g), 0, 0), LLVMConstInt(idxt(g), (unsigned long long)(np + i), 0)};
        LLVMBuildStore(g->b, lg_var(g, in[i]), LLVMBuildGEP2(g->b, arr, ctx, ix, 2, ""));
    }
    LLVMTypeRef pt[3] = {ptrt(g), idxt(g), idxt(g)};
    LLVMTypeRef bt = LLVMFunctionType(LLVMVoidTypeInContext(g->cx), pt, 3, 0);
    LLVMValueRef body = LLVMAddFunction(g->m, arena_printf(g->a, "%s_par%d", kname, n), bt);
    LLVMSetLinkage(body, LLVMInternalLinkage);
    attr(g, body, LLVMAttributeFunctionIndex, "nounwind");
    LLVMTypeRef rt[3] = {ptrt(g), ptrt(g), idxt(g)};
    LLVMTypeRef runt = LLVMFunctionType(LLVMVoidTypeInContext(g->cx), rt, 3, 0);
    LLVMValueRef run = LLVMGetNamedFunction(g->m, "kiln_par_for");
    if (!run)
        run = LLVMAddFunction(g->m, "kiln_par_for", runt);
    LLVMValueRef args[3] = {body, ctx, lg_expr(g, s->extent)};
    LLVMBuildCall2(g->b, runt, run, args, 3, "");

    /* the outlined body, built with its own allocas and buffer table */
    LLVMValueRef fn = g->fn, *var = g->var, *buf = g->buf;
    LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b), alloc = LLVMGetInsertBlock(g->ab);
    LLVMBasicBlockRef entry = begin_fn(g, body);
    for (int i = 0, j = 0; i < g->nuse; i++) {
        if (g->p->bufs[g->use[i].buf].kind == BUF_LOCAL)
            continue;
        LLVMValueRef ix[2] = {LLVMConstInt(idxt(g), 0, 0), LLVMConstInt(idxt(g), (unsigned long long)j++, 0)};
        LLVMValueRef at = LLVMBuildGEP2(g->b, arr, LLVMGetParam(body, 0), ix, 2, "");
        g->buf[g->use[i].buf] = LLVMBuildLoad2(g->b, ptrt(g), at, g->p->bufs[g->use[i].buf].name);
    }
    for (int i = 0; i < nin; i++) {
        /* the caller's value, copied into this function's own variable */
        LLVMValueRef ix[2] = {LLVMConstInt(idxt(g), 0, 0), LLVMConstInt(idxt(g), (unsigned long long)(np + i), 0)};
        LLVMValueRef at = LLVMBuildLoad2(g->b, ptrt(g), LLVMBuildGEP2(g->b, arr, LLVMGetParam(body, 0), ix, 2, ""), "");
        LLVMTypeRef vt = LLVMGetAllocatedType(var[in[i]]);
        LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, vt, at, g->k->vars[in[i]].name), lg_var(g, in[i]));
    }
    g->in_par = 1;
    loop(g, s, LLVMGetParam(body, 1), LLVMGetParam(body, 2));
    g->in_par = 0;
    end_fn(g, entry);
    g->fn = fn;
    g->var = var;
    g->buf = buf;
    LLVMPositionBuilderAtEnd(g->b, here);
    LLVMPositionBuilderAtEnd(g->ab, alloc);
}

/* Run `then` when scalar condition c holds (an else block when els). */
static void branch(LG *g, LLVMValueRef c, const Stmt *then, const Stmt *els)
{
    LLVMBasicBlockRef tb = LLVMAppendBasicBlockInContext(g->cx, g->fn, "then");
    LLVMBasicBlockRef eb = els ? LLVMAppendBasicBlockInContext(g->cx, g->fn, "else") : NULL;
    LLVMBasicBlockRef jb = LLVMAppendBasicBlockInContext(g->cx, g->fn, "endif");
    LLVMBuildCondBr(g->b, c, tb, eb ? eb : jb);
    LLVMPositionBuilderAtEnd(g->b, tb);
    block(g, then);
    LLVMBuildBr(g->b, jb);
    if (eb) {
        LLVMPositionBuilderAtEnd(g->b, eb);
        block(g, els);
        LLVMBuildBr(g->b, jb);
    }
    LLVMPositionBuilderAtEnd(g->b, jb);
}

static LLVMValueRef truth(LG *g, const Expr *e)
{
    LLVMValueRef c = lg_expr(g, e);
    if (e->type == DT_BOOL)
        return c;
    LLVMValueRef z = LLVMConstNull(LLVMTypeOf(c));
    return dtype_is_float(e->type) ? LLVMBuildFCmp(g->b, LLVMRealUNE, c, z, "") : LLVMBuildICmp(g->b, LLVMIntNE, c, z, "");
}

static void store(LG *g, const Stmt *s)
{
    DType t = g->p->bufs[s->buf].dtype;
    unsigned align = (unsigned)dtype_size(t);
    int lanes = s->index->lanes;
    LLVMValueRef v = lg_expr(g, s->value);
    if (lanes > 1 && s->value->lanes == 1)
        v = lg_splat(g, v, lanes);
    v = lg_narrow(g, v, t);
    if (lanes == 1) {
        LLVMValueRef at = lg_addr(g, s->buf, lg_expr(g, s->index));
        LLVMBasicBlockRef jb = NULL;
        if (s->mask) { /* a scalar under a mask: written when it is on */
            LLVMBasicBlockRef wb = LLVMAppendBasicBlockInContext(g->cx, g->fn, "mstore");
            jb = LLVMAppendBasicBlockInContext(g->cx, g->fn, "mjoin");
            LLVMBuildCondBr(g->b, lg_expr(g, s->mask), wb, jb);
            LLVMPositionBuilderAtEnd(g->b, wb);
        }
        LLVMSetAlignment(LLVMBuildStore(g->b, v, at), align);
        if (jb) {
            LLVMBuildBr(g->b, jb);
            LLVMPositionBuilderAtEnd(g->b, jb);
        }
        return;
    }
    LLVMValueRef al = LLVMConstInt(LLVMInt32TypeInContext(g->cx), align, 0);
    LLVMValueRef mask = s->mask ? lg_expr(g, s->mask) : NULL;
    if (mask && s->mask->lanes == 1)
        mask = lg_splat(g, mask, lanes); /* one condition for every lane */
    if (s->index->kind == E_RAMP && s->index->i == 1) {
        LLVMValueRef at = lg_addr(g, s->buf, lg_expr(g, s->index->a));
        if (!mask) {
            LLVMSetAlignment(LLVMBuildStore(g->b, v, at), align);
            return;
        }
        LLVMTypeRef ov[2] = {LLVMTypeOf(v), LLVMTypeOf(at)};
        LLVMValueRef a[4] = {v, at, al, mask};
        lg_intrinsic(g, "llvm.masked.store", ov, 2, a, 4);
        return;
    }
    /* a scatter: lanes written in order, as the C target's loop does */
    LLVMValueRef at = lg_addr(g, s->buf, lg_expr(g, s->index));
    LLVMTypeRef ov[2] = {LLVMTypeOf(v), LLVMTypeOf(at)};
    LLVMValueRef a[4] = {v, at, al, mask ? mask : lg_all_true(g, lanes)};
    lg_intrinsic(g, "llvm.masked.scatter", ov, 2, a, 4);
}

/* A call of a runtime routine: integers and variables by value, loads as
 * the address of their element. */
static void call(LG *g, const Stmt *s)
{
    LLVMValueRef args[16];
    LLVMTypeRef types[16];
    if (g->gpu) {
        g->bad = g->bad ? g->bad : arena_printf(g->a, "a call of runtime routine %s (host code)", s->routine);
        return;
    }
    if (s->nargs > 16) {
        g->bad = g->bad ? g->bad : "a runtime call of more than 16 arguments";
        return;
    }
    for (int i = 0; i < s->nargs; i++) {
        const Expr *e = s->args[i];
        args[i] = e->kind == E_LOAD ? lg_addr(g, e->buf, lg_expr(g, e->a)) : lg_expr(g, e);
        types[i] = LLVMTypeOf(args[i]);
    }
    LLVMTypeRef ft = LLVMFunctionType(LLVMVoidTypeInContext(g->cx), types, (unsigned)s->nargs, 0);
    LLVMValueRef f = LLVMGetNamedFunction(g->m, s->routine);
    if (!f)
        f = LLVMAddFunction(g->m, s->routine, ft);
    LLVMBuildCall2(g->b, ft, f, args, (unsigned)s->nargs, "");
}

static void block(LG *g, const Stmt *s)
{
    for (; s; s = s->next) {
        switch (s->kind) {
        case S_LOOP:
            if (g->gpu && (s->loop == L_GPU_BLOCK || s->loop == L_GPU_THREAD))
                gpu_loop(g, s);
            else if (s->loop == L_PARALLEL && !g->in_par && !g->gpu)
                parallel(g, s, g->kname, g->npar++);
            else /* serial, unrolled or vector loops the passes left, GPU kinds on a CPU,
                  * parallel ones on a GPU: in order */
                loop(g, s, LLVMConstInt(idxt(g), 0, 0), lg_expr(g, s->extent));
            break;
        case S_STORE:
            store(g, s);
            break;
        case S_LET:
        case S_ASSIGN: {
            const Var *v = &g->k->vars[s->var];
            LLVMValueRef x = lg_expr(g, s->value);
            if (v->lanes > 1 && s->value->lanes == 1)
                x = lg_splat(g, x, v->lanes);
            LLVMBuildStore(g->b, x, lg_var(g, s->var));
            break;
        }
        case S_IF:
            branch(g, truth(g, s->value), s->body, s->els);
            break;
        case S_CALL:
            call(g, s);
            break;
        }
    }
}

/* Kernel k as the external function PREFIX_NAME(buffers...). */
static void kernel(LG *g, const Kernel *k)
{
    KUse *use;
    g->k = k;
    g->nuse = kernel_uses(k, g->a, &use);
    g->use = use;
    LLVMTypeRef *pt = arena_alloc(g->a, sizeof(LLVMTypeRef) * (size_t)(g->nuse + 1));
    int np = 0;
    for (int i = 0; i < g->nuse; i++)
        if (g->p->bufs[use[i].buf].kind != BUF_LOCAL)
            pt[np++] = ptrt(g);
    const char *name = arena_printf(g->a, "%s_%s", g->pre, k->name);
    LLVMTypeRef ft = LLVMFunctionType(LLVMVoidTypeInContext(g->cx), pt, (unsigned)np, 0);
    LLVMValueRef f = LLVMAddFunction(g->m, name, ft);
    attr(g, f, LLVMAttributeFunctionIndex, "nounwind");
    for (int i = 0; i < np; i++) {
        attr(g, f, (LLVMAttributeIndex)(i + 1), "noalias"); /* the C target's restrict */
        attr(g, f, (LLVMAttributeIndex)(i + 1), "nocapture");
    }
    LLVMBasicBlockRef entry = begin_fn(g, f);
    for (int i = 0, j = 0; i < g->nuse; i++)
        if (g->p->bufs[use[i].buf].kind != BUF_LOCAL) {
            g->buf[use[i].buf] = LLVMGetParam(f, (unsigned)j++);
            LLVMSetValueName2(g->buf[use[i].buf], g->p->bufs[use[i].buf].name,
                              strlen(g->p->bufs[use[i].buf].name));
        }
    g->kname = name;
    g->npar = 0;
    block(g, k->body);
    end_fn(g, entry);
}

int lg_launch_uses(const Program *p, const Stmt *s, Arena *a, KUse **out)
{
    KUse *use;
    int n = block_uses(s, 1, a, &use), m = 0;
    for (int i = 0; i < n; i++)
        if (p->bufs[use[i].buf].kind != BUF_LOCAL)
            use[m++] = use[i];
    *out = use;
    return m;
}

/* Kernel k on a GPU (gpumap.c's form): each top-level launch, a block
 * loop around a thread loop, becomes the PTX entry PREFIX_NAME_lI (the
 * ptx_kernel calling convention) of the buffers it touches
 * (lg_launch_uses), its loop variables read from %ctaid.x and %tid.x --
 * the host launches exactly the loops' extents. A top-level statement of
 * another form runs whole in a launch of one thread (its GPU loops, if
 * any, step over every iteration: gpu_loop). */
static void gpu_kernel(LG *g, const Kernel *k)
{
    KUse *use;
    g->k = k;
    g->nuse = kernel_uses(k, g->a, &use);
    g->use = use; /* the kernel's locals are allocated in each launch that may use them */
    int i = 0;
    for (const Stmt *s = k->body; s; s = s->next, i++) {
        KUse *lu;
        int np = lg_launch_uses(g->p, s, g->a, &lu);
        LLVMTypeRef *pt = arena_alloc(g->a, sizeof(LLVMTypeRef) * (size_t)(np + 1));
        for (int j = 0; j < np; j++)
            pt[j] = ptrt(g);
        const char *name = arena_printf(g->a, "%s_%s_l%d", g->pre, k->name, i);
        LLVMTypeRef ft = LLVMFunctionType(LLVMVoidTypeInContext(g->cx), pt, (unsigned)np, 0);
        LLVMValueRef f = LLVMAddFunction(g->m, name, ft);
        LLVMSetFunctionCallConv(f, 71); /* PTX_Kernel: a .entry the host launches */
        attr(g, f, LLVMAttributeFunctionIndex, "nounwind");
        for (int j = 0; j < np; j++) {
            attr(g, f, (LLVMAttributeIndex)(j + 1), "noalias"); /* the C target's restrict */
            attr(g, f, (LLVMAttributeIndex)(j + 1), "nocapture");
        }
        LLVMBasicBlockRef entry = begin_fn(g, f);
        for (int j = 0; j < np; j++) {
            const char *bn = g->p->bufs[lu[j].buf].name;
            g->buf[lu[j].buf] = LLVMGetParam(f, (unsigned)j);
            LLVMSetValueName2(g->buf[lu[j].buf], bn, strlen(bn));
        }
        g->kname = name;
        const Stmt *t = s->kind == S_LOOP && s->loop == L_GPU_BLOCK ? s->body : NULL;
        if (t && !t->next && t->kind == S_LOOP && t->loop == L_GPU_THREAD) {
            LLVMBuildStore(g->b, sreg(g, "ctaid.x"), lg_var(g, s->var));
            LLVMBuildStore(g->b, sreg(g, "tid.x"), lg_var(g, t->var));
            block(g, t->body);
        } else {
            Stmt one = *s;
            one.next = NULL;
            block(g, &one);
        }
        end_fn(g, entry);
    }
}

/* The program's kernels as a verified module in cx (*out), or 1; the
 * vector math they call in vm[VM_COUNT]. With a target machine tm, the
 * module gets its triple and data layout first (DT_INDEX is then its
 * pointer-sized integer); without one (--dump llvm, ptx) it has neither
 * and DT_INDEX is i64. gpu: each kernel's launches as PTX entries. */
int lg_build_module(const Program *p, const EmitOptions *o, LLVMContextRef cx, LLVMTargetMachineRef tm, Arena *a,
                    int gpu, LLVMModuleRef *out, unsigned *vm, Diag *d)
{
    LG g = {0};
    g.gpu = gpu;
    g.cx = cx;
    g.m = LLVMModuleCreateWithNameInContext("kiln", cx);
    g.index = LLVMInt64TypeInContext(cx);
    if (tm) {
        char *triple = LLVMGetTargetMachineTriple(tm);
        LLVMSetTarget(g.m, triple);
        LLVMDisposeMessage(triple);
        LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(tm);
        LLVMSetModuleDataLayout(g.m, layout);
        g.index = LLVMIntPtrTypeInContext(cx, layout);
        LLVMDisposeTargetData(layout);
    }
    g.b = LLVMCreateBuilderInContext(cx);
    g.ab = LLVMCreateBuilderInContext(cx);
    g.p = p;
    g.a = a;
    g.pre = o && o->prefix ? o->prefix : "model";
    /* one function for the kernels that share one (cemit_share_kernels:
     * model.c calls kernel same[i] for kernel i) */
    int *same = arena_alloc(a, sizeof(int) * (size_t)(p->nkernels + 1));
    if (cemit_share_kernels(p, a, same))
        g.bad = "the kernels (out of memory)";
    for (int i = 0; i < p->nkernels && !g.bad; i++) {
        if (gpu) {
            /* every kernel its own launches: the host launches them by
             * name; the kernels placed on the host are C (cemit_host) */
            if (!p->kernels[i].host)
                gpu_kernel(&g, &p->kernels[i]);
        } else {
            if (same[i] != i)
                continue;
            kernel(&g, &p->kernels[i]);
        }
        if (g.bad)
            g.bad = arena_printf(a, "%s in kernel %s", g.bad, p->kernels[i].name);
    }
    LLVMDisposeBuilder(g.b);
    LLVMDisposeBuilder(g.ab);
    if (g.bad) {
        LLVMDisposeModule(g.m);
        return diag_error(d, "the %s target cannot build %s", gpu ? "ptx" : "LLVM", g.bad);
    }
    char *msg = NULL;
    if (LLVMVerifyModule(g.m, LLVMReturnStatusAction, &msg)) {
        char line[300];
        snprintf(line, sizeof line, "%s", msg ? msg : "");
        line[strcspn(line, "\n")] = 0;
        LLVMDisposeMessage(msg);
        LLVMDisposeModule(g.m);
        return diag_error(d, "internal error: LLVM rejected the kernels' module: %s", line);
    }
    LLVMDisposeMessage(msg);
    *out = g.m;
    if (vm)
        memcpy(vm, g.vecmath, sizeof g.vecmath);
    return 0;
}

/* The vector math the kernels call, appended to DIR/PREFIX.c: kiln_vec.h's
 * functions on arrays (PREFIX_vec_FN_f32xW), built with the host side. */
static int write_vecmath(const char *path, const char *pre, const unsigned *vm, Diag *d)
{
    int any = 0;
    for (int i = 0; i < VM_COUNT; i++)
        any |= vm[i] != 0;
    if (!any)
        return 0;
    FILE *f = fopen(path, "a");
    if (!f)
        return diag_error(d, "cannot write %s", path);
    fprintf(f, "\n/* Vector math of the kernels in %s_kernels.o: kiln_vec.h's, as the C target\n"
               " * computes it, on arrays (no vector crosses the call). */\n#include \"kiln_vec.h\"\n", pre);
    for (int i = 0; i < VM_COUNT; i++)
        for (int w = 0; w < 3; w++) {
            if (!(vm[i] >> w & 1))
                continue;
            const char *fn = lg_vecmath_name[i];
            int lanes = 4 << w;
            const char *args = i == VM_POW ? "const float *a, const float *b" : "const float *a";
            fprintf(f, "void %s_vec_%s_f32x%d(float *y, %s);\n", pre, fn, lanes, args);
            fprintf(f, "void %s_vec_%s_f32x%d(float *y, %s)\n{\n    kiln_store_f32x%d(y, kiln_%s_f32x%d(", pre, fn,
                    lanes, args, lanes, fn, lanes);
            if (i == VM_POW)
                fprintf(f, "kiln_load_f32x%d(a), kiln_load_f32x%d(b)));\n}\n", lanes, lanes);
            else
                fprintf(f, "kiln_load_f32x%d(a)));\n}\n", lanes);
        }
    return fclose(f) ? diag_error(d, "cannot write %s", path) : 0;
}

int llvm_available(void) { return 1; }

int llvm_dump(const Program *p, const EmitOptions *o, void *file, Diag *d)
{
    LLVMContextRef cx = LLVMContextCreate();
    Arena *a = arena_new();
    LLVMModuleRef m;
    int rc = lg_build_module(p, o, cx, NULL, a, 0, &m, NULL, d);
    if (!rc) {
        char *text = LLVMPrintModuleToString(m);
        fputs(text, file);
        LLVMDisposeMessage(text);
        LLVMDisposeModule(m);
    }
    arena_free(a);
    LLVMContextDispose(cx);
    return rc;
}

/* The machine the object is for: the board's llvm_triple, llvm_cpu and
 * llvm_features; else the host's triple with its CPU and features for
 * --arch host, or the CPU of a machine name's -march= (x86-64-avx2:
 * x86-64-v3; none: generic), as the C target's cflags choose. The code is
 * position independent, as each toolchain's cc builds by default (the
 * host's and Debian's cross gcc link PIE), except on bare metal (a triple
 * whose OS is "none"), which has no loader. The float ABI is the
 * triple's (thumbv7em-none-eabihf: hard, as the board's
 * -mfloat-abi=hard); RISC-V's follows its features (+d: lp64d). Every
 * target this LLVM was built with is initialized, so a board's triple
 * needs no code here. */
static int target_machine(const EmitOptions *o, Arena *a, LLVMTargetMachineRef *out, Diag *d)
{
    const Board *bd = o ? o->board : NULL;
    const char *arch = o ? o->arch : NULL;
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    const char *triple, *cpu, *features;
    if (bd) {
        if (!bd->llvm_triple)
            return diag_error(d, "board %s has no llvm_triple in its board.txt: --target llvm cannot build for it",
                              bd->name);
        /* as llc and clang: "thumbv7em-none-eabihf" parsed as it is
         * has the OS "eabihf" and no environment, so no hard float */
        char *t = LLVMNormalizeTargetTriple(bd->llvm_triple);
        triple = arena_strdup(a, t);
        LLVMDisposeMessage(t);
        cpu = bd->llvm_cpu ? bd->llvm_cpu : "generic";
        features = bd->llvm_features ? bd->llvm_features : "";
    } else {
        char *t = LLVMGetDefaultTargetTriple();
        triple = arena_strdup(a, t);
        LLVMDisposeMessage(t);
        if (!arch || !strcmp(arch, "host")) {
            char *c = LLVMGetHostCPUName(), *f = LLVMGetHostCPUFeatures();
            cpu = arena_strdup(a, c);
            features = arena_strdup(a, f);
            LLVMDisposeMessage(c);
            LLVMDisposeMessage(f);
        } else {
            const Machine *mc = machine_arch(arch);
            const char *march = mc && !strncmp(mc->cflags, "-march=", 7) ? mc->cflags + 7 : NULL;
            cpu = march ? march : "generic";
            features = "";
        }
    }
    char *err = NULL;
    LLVMTargetRef target;
    if (LLVMGetTargetFromTriple(triple, &target, &err)) {
        int rc = diag_error(d, "LLVM has no target for %s (%s): %s",
                            bd ? arena_printf(a, "board %s", bd->name) : "the host", triple, err ? err : "");
        LLVMDisposeMessage(err);
        return rc;
    }
    int opt = o ? o->opt : 3;
    LLVMCodeGenOptLevel level = opt >= 3 ? LLVMCodeGenLevelAggressive : opt == 2 ? LLVMCodeGenLevelDefault
                                : opt == 1 ? LLVMCodeGenLevelLess : LLVMCodeGenLevelNone;
    LLVMRelocMode reloc = strstr(triple, "-none") ? LLVMRelocStatic : LLVMRelocPIC;
    *out = LLVMCreateTargetMachine(target, triple, cpu, features, level, reloc, LLVMCodeModelDefault);
    if (!*out)
        return diag_error(d, "LLVM cannot make a target machine for %s (CPU %s)", triple, cpu);
    return 0;
}

/*
 * The stack frames of the object's functions, for a board's worst-case
 * stack (boards/stack.c sums frames along the calls from model_run, read
 * from gcc's call graphs, -fcallgraph-info=su): LLVM reports a function's
 * frame as a diagnostic when it is larger than the function's
 * "warn-stack-size"; with that at 0, every frame but an empty one is
 * reported. write_object then writes PREFIX_kernels.ci, the object's call
 * graph in gcc's form: each function with its frame, its direct calls
 * after optimization (and memset, memcpy, memmove where LLVM made them,
 * outside the build), so the kernels' frames count in the report.
 */
typedef struct Frame {
    const char *name;        /* a function whose frame LLVM reported */
    int64_t bytes;
} Frame;

typedef struct Frames {
    Arena *a;
    Frame *f;
    int n, cap;
    const char *error;       /* LLVM's first error, if any */
} Frames;

static void on_diagnostic(LLVMDiagnosticInfoRef di, void *ctx)
{
    Frames *fr = ctx;
    char *msg = LLVMGetDiagInfoDescription(di);
    long long n;
    const char *sz = strstr(msg, "stack frame size ("), *fn = strstr(msg, "in function '");
    if (sz && fn && sscanf(sz, "stack frame size (%lld)", &n) == 1) {
        fn += strlen("in function '");
        Frame *f = ARENA_PUSH(fr->a, fr->f, fr->n, fr->cap);
        f->name = arena_printf(fr->a, "%.*s", (int)strcspn(fn, "'"), fn);
        f->bytes = n;
    } else if (LLVMGetDiagInfoSeverity(di) == LLVMDSError && !fr->error) {
        fr->error = arena_strdup(fr->a, msg);
    }
    LLVMDisposeMessage(msg);
}

static int is_defined(LLVMValueRef f) { return LLVMCountBasicBlocks(f) > 0; }

/* A function's node title: its name, "OBJ:name" for one of internal
 * linkage (as gcc titles a static function). */
static const char *node_title(Arena *a, const char *obj, LLVMValueRef f)
{
    size_t len;
    const char *name = LLVMGetValueName2(f, &len);
    return LLVMGetLinkage(f) == LLVMInternalLinkage ? arena_printf(a, "%s:%.*s", obj, (int)len, name)
                                                    : arena_printf(a, "%.*s", (int)len, name);
}

/* The call graph of m, with the frames fr, as gcc's VCG text to path. */
static int write_frames(LLVMModuleRef m, const Frames *fr, const char *obj, const char *path, Diag *d)
{
    Arena *a = fr->a;
    char *t = arena_printf(a, "graph: { title: \"%s\"\n", obj);
    for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f)) {
        if (!is_defined(f))
            continue;
        const char *title = node_title(a, obj, f), *name = LLVMGetValueName2(f, &(size_t){0});
        int64_t bytes = 0;
        for (int i = 0; i < fr->n; i++)
            if (!strcmp(fr->f[i].name, name))
                bytes = fr->f[i].bytes;
        t = arena_printf(a, "%snode: { title: \"%s\" label: \"%s\\n%s\\n%lld bytes (static)\" }\n", t, title,
                         name, obj, (long long)bytes);
        for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb))
            for (LLVMValueRef in = LLVMGetFirstInstruction(bb); in; in = LLVMGetNextInstruction(in)) {
                LLVMValueRef callee = LLVMIsACallInst(in) ? LLVMGetCalledValue(in) : NULL;
                if (!callee || !LLVMIsAFunction(callee))
                    continue;
                const char *to = node_title(a, obj, callee);
                if (LLVMGetIntrinsicID(callee)) {
                    /* those LLVM lowers to a C library call */
                    const char *lib[] = {"memset", "memcpy", "memmove"};
                    to = NULL;
                    for (int i = 0; i < 3; i++)
                        if (!strncmp(LLVMGetValueName2(callee, &(size_t){0}), arena_printf(a, "llvm.%s.", lib[i]),
                                     strlen(lib[i]) + 6))
                            to = lib[i];
                    if (!to)
                        continue;
                }
                t = arena_printf(a, "%sedge: { sourcename: \"%s\" targetname: \"%s\" }\n", t, title, to);
            }
    }
    t = arena_printf(a, "%s}\n", t);
    if (write_file(path, t, strlen(t)))
        return diag_error(d, "cannot write %s", path);
    return 0;
}

/* Optimize m (built for tm) at level opt and write it as an object file
 * to path; with ci, its call graph and frames to ci too. */
static int write_object(LLVMModuleRef m, LLVMTargetMachineRef tm, int opt, const char *path, const char *ci,
                        Arena *a, Diag *d)
{
    char *err = NULL;
    int rc = 0;
    Frames fr = {.a = a};
    LLVMContextRef cx = LLVMGetModuleContext(m);
    if (ci) {
        for (LLVMValueRef f = LLVMGetFirstFunction(m); f; f = LLVMGetNextFunction(f))
            if (is_defined(f))
                LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                                        LLVMCreateStringAttribute(cx, "warn-stack-size", 15, "0", 1));
        LLVMContextSetDiagnosticHandler(cx, on_diagnostic, &fr);
    }
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(po, opt >= 2);
    LLVMPassBuilderOptionsSetSLPVectorization(po, opt >= 2);
    LLVMPassBuilderOptionsSetLoopUnrolling(po, opt >= 2);
    LLVMPassBuilderOptionsSetLoopInterleaving(po, opt >= 2);
    char passes[32];
    snprintf(passes, sizeof passes, "default<O%d>", opt < 0 ? 0 : opt > 3 ? 3 : opt);
    LLVMErrorRef e = LLVMRunPasses(m, passes, tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (e) {
        char *msg = LLVMGetErrorMessage(e);
        rc = diag_error(d, "internal error: LLVM's %s pipeline failed: %s", passes, msg);
        LLVMDisposeErrorMessage(msg);
    }
    if (!rc && LLVMTargetMachineEmitToFile(tm, m, (char *)path, LLVMObjectFile, &err)) {
        rc = diag_error(d, "cannot write %s: %s", path, err ? err : "");
        LLVMDisposeMessage(err);
    }
    if (ci) {
        LLVMContextSetDiagnosticHandler(cx, NULL, NULL);
        if (!rc && fr.error)
            rc = diag_error(d, "internal error: LLVM: %s", fr.error);
        if (!rc)
            rc = write_frames(m, &fr, strrchr(path, '/') ? strrchr(path, '/') + 1 : path, ci, d);
    }
    return rc;
}

int llvm_program(const Program *p, const char *dir, const EmitOptions *o, Diag *d)
{
    const char *pre = o && o->prefix ? o->prefix : "model";
    Arena *a = arena_new();
    const char *obj = arena_printf(a, "%s_kernels.o", pre);
    EmitOptions co = {0};
    if (o)
        co = *o;
    co.prefix = pre;
    co.extern_kernels = obj;
    int rc = cemit_program(p, dir, &co, d);
    LLVMContextRef cx = LLVMContextCreate();
    LLVMModuleRef m;
    LLVMTargetMachineRef tm = NULL;
    unsigned vm[VM_COUNT];
    if (!rc)
        rc = target_machine(o, a, &tm, d);
    if (!rc)
        rc = lg_build_module(p, &co, cx, tm, a, 0, &m, vm, d);
    if (!rc && write_vecmath(arena_printf(a, "%s/%s.c", dir, pre), pre, vm, d)) {
        LLVMDisposeModule(m);
        rc = 1;
    }
    if (!rc) {
        const char *ci = o && o->board ? arena_printf(a, "%s/%s_kernels.ci", dir, pre) : NULL;
        rc = write_object(m, tm, o ? o->opt : 3, arena_printf(a, "%s/%s", dir, obj), ci, a, d);
        LLVMDisposeModule(m);
    }
    if (tm)
        LLVMDisposeTargetMachine(tm);
    LLVMContextDispose(cx);
    arena_free(a);
    return rc;
}
