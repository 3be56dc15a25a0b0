/*
 * user_dynamic.c: the Relu kernel of the Relu -> NonZero model that
 * tests/compare/run.sh writes (x f32[4x5]), in the ABI of `kiln compare
 * MODEL.onnx --kernel NAME --ref FILE.c:FUNC`. NonZero's output has a
 * data-dependent shape: compare checks that both builds give it the same
 * one and compares only its elements.
 */
void relu(const void *const *inputs, void *const *outputs)
{
    const float *x = inputs[0];
    float *y = outputs[0];
    for (int i = 0; i < 20; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
}

/* Deliberately wrong: small positive values become 0, so NonZero finds
 * fewer elements. compare must exit 1. */
void relu_wrong(const void *const *inputs, void *const *outputs)
{
    const float *x = inputs[0];
    float *y = outputs[0];
    for (int i = 0; i < 20; i++)
        y[i] = x[i] > 0.2f ? x[i] : 0;
}
