/*
 * user_mobilenetv3.c: a hand-written kernel of models/mobilenetv3/model.onnx
 * for tests/compare/run.sh (kiln compare MODEL.onnx --kernel NAME --ref
 * FILE.c:FUNC).
 *
 * k1: '/HardSigmoid' (alpha 1/6, beta 0.5) -> '/Mul', hard swish: inputs
 * the HardSigmoid's X and the Mul's other input (the same tensor), both
 * (1,16,8,8) -> Y (1,16,8,8). kiln stores them channels last, and Y with a
 * zero border that the padded depthwise Conv after it reads in place: the
 * test checks that compare converts all three and zeroes that border.
 */
void hardswish(const void *const *inputs, void *const *outputs)
{
    const float *x = inputs[0], *x2 = inputs[1];
    float *y = outputs[0];
    for (int i = 0; i < 16 * 8 * 8; i++) {
        float h = x[i] * (1.0f / 6.0f) + 0.5f;
        h = h < 0 ? 0 : h > 1 ? 1 : h;
        y[i] = h * x2[i];
    }
}

/* k7: '/Mul_2' -> '/Add', the squeeze-excitation scale and the residual:
 * inputs X (1,16,8,8), S (1,16,1,1) (broadcast over the pixels) and R
 * (1,16,8,8) -> Y = X * S + R. kiln stores X and Y channels last and R
 * inside its zero border: the copy of R reads around that border. */
void se_scale_add(const void *const *inputs, void *const *outputs)
{
    const float *x = inputs[0], *s = inputs[1], *r = inputs[2];
    float *y = outputs[0];
    for (int c = 0; c < 16; c++)
        for (int p = 0; p < 64; p++)
            y[c * 64 + p] = x[c * 64 + p] * s[c] + r[c * 64 + p];
}
