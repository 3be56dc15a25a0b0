/*
 * gpumap.c: kernels mapped to a GPU grid of blocks and threads.
 *
 * A GPU target runs each top-level loop nest of a kernel as one launch: a
 * grid of blocks (L_GPU_BLOCK, blockIdx.x) of threads (L_GPU_THREAD,
 * threadIdx.x). After this pass every top-level statement of every kernel
 * is such a pair, and nothing else is (verify.c checks it):
 *
 *   for blk < B [gpu_block]:
 *     for thr < T [gpu_thread]:
 *       if (blk*T + thr < N):          only when T does not divide N
 *         body, with the nest's variables decoded from blk*T + thr
 *
 * The mapping is read from IR facts, as schedule.c's threads are: the
 * outermost loops of a nest that are IT_DATA, of constant extent, nested
 * perfectly (each the only statement of the one above), and under which
 * every store outside the kernel's locals indexes with their variable
 * (kernel_stores_use: a loop whose iterations all write one place stays serial)
 * are collapsed into one flat range of N iterations, one GPU thread each,
 * in blocks of GPU_THREADS. Elementwise chains get one thread per element;
 * a reduction one thread per output (its IT_REDUCE loops run inside the
 * thread); MatMul and convolution one thread per output element.
 *
 * A nest with no such loop runs as one block of one thread (correct,
 * slow), and so does a whole kernel whose top level is not a list of loop
 * nests that stand alone (a let or a store at the top, a nest reading a
 * variable set outside it, a kernel-local buffer): launches share nothing
 * but memory. Launches of one kernel run in order on one stream, so a nest
 * that fills a scratch buffer and the nest that reads it stay ordered.
 *
 * A kernel that touches string records (kiln_str: pointers into host
 * memory) or calls a runtime routine (kiln_str_*, kiln_img_*: host code)
 * is placed on the host instead (Kernel.host): its loops stay CPU loops,
 * and the GPU targets run it on a host copy of its buffers, copied from
 * the device before it and back after it (targets/cuda, targets/ptx).
 *
 * The interpreter and the C printer run GPU loops as serial loops, so a
 * mapped program computes what the unmapped one did (tests/unit).
 */
#include "kernel.h"

/* Threads per block: a multiple of the warp (32), enough to hide latency,
 * few enough that any kernel's registers fit. */
enum { GPU_THREADS = 256 };

/* The most loops of one nest collapsed into a flat range. */
enum { MAX_COLLAPSE = 8 };

/* Most threads of one launch: a grid of at most 2^31 - 1 blocks. */
static const int64_t MAX_FLAT = (int64_t)GPU_THREADS * 2147483647;




/* Does top-level statement s stand alone: a loop that reads no variable
 * declared outside it? */
static int stands_alone(Program *p, const Kernel *k, const Stmt *s)
{
    if (s->kind != S_LOOP || s->loop != L_SERIAL)
        return 0;
    return kernel_stmt_closed(p->arena, k, s);
}

static Stmt *new_loop(Arena *a, int var, int64_t extent, LoopKind kind, Stmt *body)
{
    Stmt *l = stmt_new(a, S_LOOP);
    l->var = var;
    l->extent = ke_idx(a, extent);
    l->loop = kind;
    l->iter = IT_DATA;
    l->body = body;
    return l;
}

/* Loop s (a top-level statement) becomes a launch of one block of one
 * thread running it; the launch takes s's place (s's next and comment). */
static void one_thread(Program *p, Kernel *k, Stmt *s)
{
    Arena *a = p->arena;
    Stmt *inner = arena_alloc(a, sizeof *inner);
    *inner = *s;
    inner->next = NULL;
    inner->comment = NULL;
    int blk = kernel_add_var(p, k, "blk", DT_INDEX), thr = kernel_add_var(p, k, "thr", DT_INDEX);
    Stmt *t = new_loop(a, thr, 1, L_GPU_THREAD, inner);
    Stmt *next = s->next;
    const char *comment = s->comment;
    *s = *new_loop(a, blk, 1, L_GPU_BLOCK, t);
    s->next = next;
    s->comment = comment;
}

/* The whole body of kernel k as one launch of one thread. */
static void kernel_one_thread(Program *p, Kernel *k)
{
    Arena *a = p->arena;
    int blk = kernel_add_var(p, k, "blk", DT_INDEX), thr = kernel_add_var(p, k, "thr", DT_INDEX);
    Stmt *t = new_loop(a, thr, 1, L_GPU_THREAD, k->body);
    k->body = new_loop(a, blk, 1, L_GPU_BLOCK, t);
}

/* Map loop nest s (a top-level loop that stands alone) to a grid, or to
 * one thread when it has no data-parallel loop to spread. */
static void map_nest(Program *p, Kernel *k, Stmt *s)
{
    Arena *a = p->arena;
    Stmt *chain[MAX_COLLAPSE];
    int64_t ext[MAX_COLLAPSE], flat = 1, n;
    int depth = 0;
    for (Stmt *l = s; l && depth < MAX_COLLAPSE; l = l->body) {
        if (l->kind != S_LOOP || l->loop != L_SERIAL || l->iter != IT_DATA || !ke_is_const(l->extent, &n) ||
            n < 1 || ck_mul(flat, n, &n) || n > MAX_FLAT || !kernel_stores_use(p, l->body, l->var))
            break;
        flat = n;
        ke_is_const(l->extent, &ext[depth]);
        chain[depth++] = l;
        if (!l->body || l->body->next)
            break; /* not a perfect nest below: the body starts here */
    }
    if (!depth) {
        one_thread(p, k, s);
        return;
    }
    int64_t threads = flat < GPU_THREADS ? flat : GPU_THREADS;
    int64_t blocks = (flat + threads - 1) / threads;
    int blk = kernel_add_var(p, k, "blk", DT_INDEX), thr = kernel_add_var(p, k, "thr", DT_INDEX);
    /* gid = blk*T + thr; the nest's variables from it, innermost fastest */
    Expr *gid = ke_bin(a, B_ADD, ke_bin(a, B_MUL, ke_var(a, k, blk), ke_idx(a, threads)), ke_var(a, k, thr));
    if (blocks == 1)
        gid = ke_var(a, k, thr);
    Stmt *body = chain[depth - 1]->body;
    int64_t stride = 1;
    for (int i = depth - 1; i >= 0; i--) {
        Expr *v = stride > 1 ? ke_bin(a, B_DIV, gid, ke_idx(a, stride)) : gid;
        if (i > 0)
            v = ke_bin(a, B_MOD, v, ke_idx(a, ext[i]));
        stmt_subst(a, body, chain[i]->var, v);
        stride *= ext[i];
    }
    if (blocks * threads != flat) {
        /* the last block's threads past the end do nothing */
        Stmt *g = stmt_new(a, S_IF);
        g->value = ke_bin(a, B_LT, gid, ke_idx(a, flat));
        g->body = body;
        body = g;
    }
    Stmt *t = new_loop(a, thr, threads, L_GPU_THREAD, body);
    Stmt *next = s->next;
    const char *comment = s->comment;
    *s = *new_loop(a, blk, blocks, L_GPU_BLOCK, t);
    s->next = next;
    s->comment = comment;
}

/* Does kernel k use a kernel-local buffer? */
static int uses_local(const Program *p, const Kernel *k)
{
    KUse *use;
    Arena *a = arena_new();
    int n = kernel_uses(k, a, &use), any = 0;
    for (int i = 0; i < n; i++)
        any |= p->bufs[use[i].buf].kind == BUF_LOCAL;
    arena_free(a);
    return any;
}

int prog_gpumap(Program *p, const Machine *m, Diag *d)
{
    (void)m; /* one block size for every GPU today */
    for (int i = 0; i < p->nkernels; i++) {
        Kernel *k = &p->kernels[i];
        if (!k->body)
            continue;
        if ((k->host = kernel_host_only(p, k, p->arena)))
            continue;
        int alone = !uses_local(p, k);
        for (Stmt *s = k->body; s && alone; s = s->next)
            alone = stands_alone(p, k, s);
        if (!alone) {
            kernel_one_thread(p, k);
            continue;
        }
        for (Stmt *s = k->body; s; s = s->next)
            map_nest(p, k, s);
    }
    return d->nerrors != 0;
}
