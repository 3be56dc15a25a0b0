/*
 * hand.c: the decoder of models/llm/make_decoder.py written by hand, in the
 * style of llama2.c's run.c: plain C loops over the weights in
 * weights.bin, a key/value cache updated in place, one token per call.
 * It is the reference kiln's compiled decoder is compared with
 * (models/llm/generate.py); nothing in kiln uses it.
 *
 * As in run.c, matmul is one dot product per output row, split over
 * threads with OpenMP when built with -fopenmp.
 */
#include "hand.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void rmsnorm(float *o, const float *x, const float *w, int n)
{
    float ss = 0.0f;
    for (int j = 0; j < n; j++)
        ss += x[j] * x[j];
    ss = 1.0f / sqrtf(ss / (float)n + 1e-5f);
    for (int j = 0; j < n; j++)
        o[j] = w[j] * (ss * x[j]);
}

static void softmax(float *x, int n)
{
    float max = x[0];
    for (int i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}

/* o[d] = W[d, n] x[n] */
static void matmul(float *o, const float *x, const float *w, int n, int d)
{
    int i;
#pragma omp parallel for private(i)
    for (i = 0; i < d; i++) {
        float v = 0.0f;
        for (int j = 0; j < n; j++)
            v += w[(size_t)i * (size_t)n + (size_t)j] * x[j];
        o[i] = v;
    }
}

int hand_load(Hand *m, const char *path)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 1;
    int hdr[7];
    if (fread(hdr, sizeof(int), 7, f) != 7) {
        fclose(f);
        return 1;
    }
    m->dim = hdr[0], m->hidden = hdr[1], m->layers = hdr[2], m->heads = hdr[3];
    m->kv_heads = hdr[4], m->vocab = hdr[5], m->context = hdr[6];
    size_t dim = (size_t)m->dim, hid = (size_t)m->hidden, L = (size_t)m->layers;
    size_t kv_dim = dim / (size_t)m->heads * (size_t)m->kv_heads;
    size_t n = (size_t)m->vocab * dim + L * (dim + dim * dim + 2 * kv_dim * dim + dim * dim + dim + 3 * hid * dim) +
               dim + (size_t)m->vocab * dim;
    m->data = malloc(n * sizeof(float));
    if (!m->data || fread(m->data, sizeof(float), n, f) != n) {
        fclose(f);
        return 1;
    }
    fclose(f);
    float *p = m->data;
    m->emb = p, p += (size_t)m->vocab * dim;
    m->att_norm = p, p += L * dim;
    m->wq = p, p += L * dim * dim;
    m->wk = p, p += L * kv_dim * dim;
    m->wv = p, p += L * kv_dim * dim;
    m->wo = p, p += L * dim * dim;
    m->ffn_norm = p, p += L * dim;
    m->w1 = p, p += L * hid * dim;
    m->w2 = p, p += L * dim * hid;
    m->w3 = p, p += L * hid * dim;
    m->final_norm = p, p += dim;
    m->cls = p;
    size_t cache = L * (size_t)m->context * kv_dim;
    m->x = calloc(dim, sizeof(float));
    m->xb = calloc(dim, sizeof(float));
    m->xb2 = calloc(dim, sizeof(float));
    m->hb = calloc(hid, sizeof(float));
    m->hb2 = calloc(hid, sizeof(float));
    m->q = calloc(dim, sizeof(float));
    m->att = calloc((size_t)m->heads * (size_t)m->context, sizeof(float));
    m->logits = calloc((size_t)m->vocab, sizeof(float));
    m->key_cache = calloc(cache, sizeof(float));
    m->value_cache = calloc(cache, sizeof(float));
    return !m->x || !m->xb || !m->xb2 || !m->hb || !m->hb2 || !m->q || !m->att || !m->logits || !m->key_cache ||
           !m->value_cache;
}

float *hand_forward(Hand *m, int token, int pos)
{
    int dim = m->dim, hid = m->hidden, hs = dim / m->heads;
    int kv_dim = hs * m->kv_heads, group = m->heads / m->kv_heads;
    float *x = m->x;
    memcpy(x, m->emb + (size_t)token * (size_t)dim, (size_t)dim * sizeof(float));
    for (int l = 0; l < m->layers; l++) {
        rmsnorm(m->xb, x, m->att_norm + (size_t)l * dim, dim);
        /* this position's key and value go straight into the cache */
        size_t loff = (size_t)l * (size_t)m->context * (size_t)kv_dim;
        float *k = m->key_cache + loff + (size_t)pos * (size_t)kv_dim;
        float *v = m->value_cache + loff + (size_t)pos * (size_t)kv_dim;
        matmul(m->q, m->xb, m->wq + (size_t)l * dim * dim, dim, dim);
        matmul(k, m->xb, m->wk + (size_t)l * kv_dim * dim, dim, kv_dim);
        matmul(v, m->xb, m->wv + (size_t)l * kv_dim * dim, dim, kv_dim);
        /* rotary embedding: pairs (2i, 2i+1) of each head */
        for (int i = 0; i < dim; i += 2) {
            int hd = i % hs;
            float freq = 1.0f / powf(10000.0f, (float)hd / (float)hs);
            float val = (float)pos * freq, fcr = cosf(val), fci = sinf(val);
            for (int r = 0; r < (i < kv_dim ? 2 : 1); r++) {
                float *vec = r == 0 ? m->q : k;
                float v0 = vec[i], v1 = vec[i + 1];
                vec[i] = v0 * fcr - v1 * fci;
                vec[i + 1] = v0 * fci + v1 * fcr;
            }
        }
        int h;
#pragma omp parallel for private(h)
        for (h = 0; h < m->heads; h++) {
            const float *q = m->q + h * hs;
            float *att = m->att + (size_t)h * (size_t)m->context;
            for (int t = 0; t <= pos; t++) {
                const float *kt = m->key_cache + loff + (size_t)t * (size_t)kv_dim + (size_t)(h / group) * (size_t)hs;
                float score = 0.0f;
                for (int i = 0; i < hs; i++)
                    score += q[i] * kt[i];
                att[t] = score / sqrtf((float)hs);
            }
            softmax(att, pos + 1);
            float *xb = m->xb + h * hs;
            memset(xb, 0, (size_t)hs * sizeof(float));
            for (int t = 0; t <= pos; t++) {
                const float *vt = m->value_cache + loff + (size_t)t * (size_t)kv_dim + (size_t)(h / group) * (size_t)hs;
                for (int i = 0; i < hs; i++)
                    xb[i] += att[t] * vt[i];
            }
        }
        matmul(m->xb2, m->xb, m->wo + (size_t)l * dim * dim, dim, dim);
        for (int i = 0; i < dim; i++)
            x[i] += m->xb2[i];
        rmsnorm(m->xb, x, m->ffn_norm + (size_t)l * dim, dim);
        matmul(m->hb, m->xb, m->w1 + (size_t)l * dim * hid, dim, hid);
        matmul(m->hb2, m->xb, m->w3 + (size_t)l * dim * hid, dim, hid);
        for (int i = 0; i < hid; i++) {
            float a = m->hb[i];
            m->hb[i] = a * (1.0f / (1.0f + expf(-a))) * m->hb2[i];
        }
        matmul(m->xb, m->hb, m->w2 + (size_t)l * dim * hid, hid, dim);
        for (int i = 0; i < dim; i++)
            x[i] += m->xb[i];
    }
    rmsnorm(x, x, m->final_norm, dim);
    matmul(m->logits, x, m->cls, dim, m->vocab);
    return m->logits;
}
