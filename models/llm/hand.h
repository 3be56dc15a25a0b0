/*
 * hand.h: the hand-written decoder of models/llm (hand.c).
 */
#ifndef KILN_LLM_HAND_H
#define KILN_LLM_HAND_H

typedef struct Hand {
    int dim, hidden, layers, heads, kv_heads, vocab, context;
    float *data; /* every weight, as read from weights.bin */
    float *emb, *att_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w1, *w2, *w3, *final_norm, *cls;
    float *x, *xb, *xb2, *hb, *hb2, *q, *att, *logits; /* activations */
    float *key_cache, *value_cache;                    /* [layers, context, kv_dim] */
} Hand;

/* Read weights.bin; 0 on success. */
int hand_load(Hand *m, const char *path);
/* One decode step: the logits of the token after `token` at `pos`. */
float *hand_forward(Hand *m, int token, int pos);

#endif
