/*
 * user_conv_relu.c: a user's reference for tests/compare/run.sh, in the ABI
 * of `kiln compare --ref FILE.c:FUNC`: Conv+Relu of X (1,4,6,6) with
 * W (8,4,3,3), B (8), pads 1, stride 1 -> Y (1,8,6,6), flat row-major
 * arrays in ONNX input order.
 */
void conv_relu(const void *const *inputs, void *const *outputs)
{
    const float *x = inputs[0], *w = inputs[1], *b = inputs[2];
    float *y = outputs[0];
    for (int m = 0; m < 8; m++)
        for (int oh = 0; oh < 6; oh++)
            for (int ow = 0; ow < 6; ow++) {
                float acc = b[m];
                for (int c = 0; c < 4; c++)
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            int ih = oh - 1 + kh, iw = ow - 1 + kw;
                            if (ih >= 0 && ih < 6 && iw >= 0 && iw < 6)
                                acc += x[(c * 6 + ih) * 6 + iw] * w[((m * 4 + c) * 3 + kh) * 3 + kw];
                        }
                y[(m * 6 + oh) * 6 + ow] = acc > 0 ? acc : 0;
            }
}

/* The same, deliberately wrong: it forgets the Relu. compare must exit 1. */
void conv_no_relu(const void *const *inputs, void *const *outputs)
{
    const float *x = inputs[0], *w = inputs[1], *b = inputs[2];
    float *y = outputs[0];
    for (int m = 0; m < 8; m++)
        for (int oh = 0; oh < 6; oh++)
            for (int ow = 0; ow < 6; ow++) {
                float acc = b[m];
                for (int c = 0; c < 4; c++)
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++) {
                            int ih = oh - 1 + kh, iw = ow - 1 + kw;
                            if (ih >= 0 && ih < 6 && iw >= 0 && iw < 6)
                                acc += x[(c * 6 + ih) * 6 + iw] * w[((m * 4 + c) * 3 + kh) * 3 + kw];
                        }
                y[(m * 6 + oh) * 6 + ow] = acc;
            }
}

/* A reference that crashes: compare must say so in one line, exit 1. */
void conv_crash(const void *const *inputs, void *const *outputs)
{
    (void)inputs;
    (void)outputs;
    *(volatile float *)0 = 1.0f;
}
