/*
 * generate.c: greedy generation with kiln's compiled decoder (libmodel.a,
 * model.h from `kiln compile decoder.onnx --emit lib`) and with the
 * hand-written one (hand.c), on the same weights; models/llm/generate.py
 * builds and runs it.
 *
 *   generate WEIGHTS.bin TOKENS ROUNDS
 *
 * Each round generates TOKENS tokens from token 1 at position 0 both ways
 * (kiln first, then by hand), timing each generation as a whole. It checks
 * that the tokens are identical and reports the worst logit difference,
 * then prints the best tokens/s of each side over the rounds. The last
 * line is machine-readable:
 *   kiln_tok_s=... hand_tok_s=... ratio=... same_tokens=1 max_abs_err=...
 * Exit status 1 when the tokens differ.
 *
 * kiln's caches: the model takes each layer's key and value cache as an
 * input and returns it with this position's row written. Built with
 * -DKILN_ALIAS (the model compiled with --alias), outputs and inputs are
 * the same buffers and the caches are updated in place; without, two sets
 * alternate, and each step copies them.
 */
#define _POSIX_C_SOURCE 200809L
#include "hand.h"
#include "model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static size_t numel(const model_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->dims[i];
    return n;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: generate WEIGHTS.bin TOKENS ROUNDS\n");
        return 2;
    }
    int steps = atoi(argv[2]), rounds = atoi(argv[3]);
    Hand hand;
    if (hand_load(&hand, argv[1])) {
        fprintf(stderr, "generate: cannot read %s\n", argv[1]);
        return 1;
    }
    if (steps < 1 || steps > hand.context || rounds < 1) {
        fprintf(stderr, "generate: TOKENS must be 1..%d and ROUNDS at least 1\n", hand.context);
        return 2;
    }
    int vocab = hand.vocab;
    void *arena = aligned_alloc(64, (MODEL_ARENA_BYTES + 63) / 64 * 64 + 64);
    float *logits = malloc(sizeof(float) * (size_t)vocab);
    float *kiln_logits = malloc(sizeof(float) * (size_t)vocab * (size_t)steps);
    int *kiln_tok = malloc(sizeof(int) * (size_t)steps), *hand_tok = malloc(sizeof(int) * (size_t)steps);
    float *cache[2][MODEL_NUM_INPUTS];
    for (int i = 2; i < MODEL_NUM_INPUTS; i++)
        for (int s = 0; s < 2; s++)
            cache[s][i] = aligned_alloc(64, (numel(&model_inputs[i]) * sizeof(float) + 63) / 64 * 64);
    if (!arena || !logits || !kiln_logits || !kiln_tok || !hand_tok) {
        fprintf(stderr, "generate: out of memory\n");
        return 1;
    }
    double best_kiln = 1e30, best_hand = 1e30, max_err = 0;
    int same = 1;
    for (int r = 0; r < rounds; r++) {
        /* kiln */
        for (int i = 2; i < MODEL_NUM_INPUTS; i++)
            memset(cache[0][i], 0, numel(&model_inputs[i]) * sizeof(float));
        int64_t token = 1, pos = 0;
        int cur = 0;
        double t0 = now();
        for (int s = 0; s < steps; s++) {
            const void *in[MODEL_NUM_INPUTS];
            void *out[MODEL_NUM_OUTPUTS];
            pos = s;
            in[0] = &token;
            in[1] = &pos;
            out[0] = kiln_logits + (size_t)s * (size_t)vocab;
            for (int i = 2; i < MODEL_NUM_INPUTS; i++) {
                in[i] = cache[cur][i];
#ifdef KILN_ALIAS
                out[i - 1] = cache[cur][i];
#else
                out[i - 1] = cache[1 - cur][i];
#endif
            }
            if (model_run(in, out, arena)) {
                fprintf(stderr, "generate: model_run failed at step %d\n", s);
                return 1;
            }
#ifndef KILN_ALIAS
            cur = 1 - cur;
#endif
            token = argmax(kiln_logits + (size_t)s * (size_t)vocab, vocab);
            kiln_tok[s] = (int)token;
        }
        double tk = now() - t0;
        /* by hand */
        memset(hand.key_cache, 0, sizeof(float) * (size_t)hand.layers * (size_t)hand.context * (size_t)(hand.dim / hand.heads * hand.kv_heads));
        memset(hand.value_cache, 0, sizeof(float) * (size_t)hand.layers * (size_t)hand.context * (size_t)(hand.dim / hand.heads * hand.kv_heads));
        int tok = 1;
        t0 = now();
        for (int s = 0; s < steps; s++) {
            float *lg = hand_forward(&hand, tok, s);
            tok = argmax(lg, vocab);
            hand_tok[s] = tok;
            if (r == 0)
                for (int i = 0; i < vocab; i++) {
                    double d = fabs((double)lg[i] - (double)kiln_logits[(size_t)s * (size_t)vocab + (size_t)i]);
                    max_err = d > max_err ? d : max_err;
                }
        }
        double th = now() - t0;
        for (int s = 0; s < steps; s++)
            same &= kiln_tok[s] == hand_tok[s];
        best_kiln = tk < best_kiln ? tk : best_kiln;
        best_hand = th < best_hand ? th : best_hand;
        printf("round %d: kiln %.1f tok/s, by hand %.1f tok/s\n", r + 1, steps / tk, steps / th);
    }
    printf("tokens:");
    for (int s = 0; s < steps && s < 16; s++)
        printf(" %d", kiln_tok[s]);
    printf("%s\n", steps > 16 ? " ..." : "");
    if (!same) {
        for (int s = 0; s < steps; s++)
            if (kiln_tok[s] != hand_tok[s]) {
                printf("tokens differ first at step %d: kiln %d, by hand %d\n", s, kiln_tok[s], hand_tok[s]);
                break;
            }
    }
    double kt = steps / best_kiln, ht = steps / best_hand;
    printf("kiln_tok_s=%.1f hand_tok_s=%.1f ratio=%.3f same_tokens=%d max_abs_err=%.3g\n", kt, ht, kt / ht, same,
           max_err);
    return same ? 0 : 1;
}
