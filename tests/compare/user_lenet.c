/*
 * user_lenet.c: hand-written kernels of models/lenet/model.onnx for
 * tests/compare/run.sh, in the ABI of `kiln compare MODEL.onnx --kernel
 * NAME --ref FILE.c:FUNC`: the nodes the kernel computes, on dense
 * row-major arrays in their ONNX order (kiln compare MODEL.onnx --kernel
 * list shows them).
 */

/* k2: '/conv2/Conv' -> '/Relu_1'. X (1,6,14,14), W (16,6,5,5), B (16),
 * no padding, stride 1 -> Y (1,16,10,10). kiln stores X and Y channels
 * last: compare converts them around the call. */
void conv2_relu(const void *const *inputs, void *const *outputs)
{
    const float *x = inputs[0], *w = inputs[1], *b = inputs[2];
    float *y = outputs[0];
    for (int m = 0; m < 16; m++)
        for (int oh = 0; oh < 10; oh++)
            for (int ow = 0; ow < 10; ow++) {
                float acc = b[m];
                for (int c = 0; c < 6; c++)
                    for (int kh = 0; kh < 5; kh++)
                        for (int kw = 0; kw < 5; kw++)
                            acc += x[(c * 14 + oh + kh) * 14 + ow + kw] * w[((m * 6 + c) * 5 + kh) * 5 + kw];
                y[(m * 10 + oh) * 10 + ow] = acc > 0 ? acc : 0;
            }
}

/* The same, deliberately wrong: the kernel's window one column off (it
 * reads the input transposed in its last two dims). compare must exit 1. */
void conv2_relu_wrong(const void *const *inputs, void *const *outputs)
{
    const float *x = inputs[0], *w = inputs[1], *b = inputs[2];
    float *y = outputs[0];
    for (int m = 0; m < 16; m++)
        for (int oh = 0; oh < 10; oh++)
            for (int ow = 0; ow < 10; ow++) {
                float acc = b[m];
                for (int c = 0; c < 6; c++)
                    for (int kh = 0; kh < 5; kh++)
                        for (int kw = 0; kw < 5; kw++)
                            acc += x[(c * 14 + ow + kw) * 14 + oh + kh] * w[((m * 6 + c) * 5 + kh) * 5 + kw];
                y[(m * 10 + oh) * 10 + ow] = acc > 0 ? acc : 0;
            }
}

/* k5: '/fc1/Gemm' (transB=1) -> '/Relu_2'. A (1,400), B (120,400), C (120)
 * -> Y (1,120); every value dense row-major in kiln's build, B packed,
 * which the call does not see. */
void fc1_relu(const void *const *inputs, void *const *outputs)
{
    const float *a = inputs[0], *b = inputs[1], *c = inputs[2];
    float *y = outputs[0];
    for (int n = 0; n < 120; n++) {
        float acc = c[n];
        for (int k = 0; k < 400; k++)
            acc += a[k] * b[n * 400 + k];
        y[n] = acc > 0 ? acc : 0;
    }
}
