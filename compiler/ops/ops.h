/*
 * ops.h: the op table. One row per ONNX operator kiln compiles.
 *
 * Expanded once into `enum OpKind` (here) and `const OpInfo optab[]`
 * (table.c). An operator is defined once: its row, its shape rule (infer_*)
 * and its lowering to Kernel IR (lower_*), in the file of compiler/ops/ its
 * family lives in. Elementwise ops (OPF_EW) share infer/lower and differ only
 * in their scalar expression (ew_scalar in elementwise.c).
 *
 * Columns:
 *   kind     OP_<kind>
 *   name     ONNX op_type
 *   dom      domain ("" is ai.onnx)
 *   in, IN   fewest and most inputs (-1: any number)
 *   out, OUT fewest and most outputs
 *   flags    OPF_EW elementwise, may join a producer's kernel as epilogue;
 *            OPF_VIEW output is the input's bytes (no kernel, storage shared);
 *            OPF_NOEPI its lowering does not store each output element once
 *            through lw_store, so it cannot take an epilogue;
 *            OPF_INPLACE its lowering reads input 0 only to copy it into the
 *            output, element for element, before anything else: the output
 *            may be input 0's own storage (--alias, graph/alias.c);
 *            OPF_PACKED reads and writes the packed types (float8, 4-bit,
 *            2-bit: kiln.h), which no other op but a view may touch;
 *            OPF_BODY runs subgraphs (If, Loop, Scan: control.c), whose
 *            captured values are its extra inputs (Node.ncap)
 *            OPF_SEQ reads sequences and optionals (sequence.c; an If or
 *            Loop that does is expanded: graph/expand.c, or a Loop's list
 *            its body appends to becomes a scan output: control.c), which
 *            no other op may: inference rewrites it into tensor ops
 *   infer    shape and dtype rule
 *   lower    lowering to Kernel IR; lower_none: folded or viewed, never
 *            lowered (table.c makes it a NULL entry)
 */
#ifndef KILN_OPS_H
#define KILN_OPS_H

/* clang-format off */
#define KILN_OPS(OP) \
/*  kind                name                   dom in IN out OUT flags      infer              lower          */ \
/* elementwise, one input */                                                                                  \
OP(ABS,               "Abs",                 "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(NEG,               "Neg",                 "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(SQRT,              "Sqrt",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(RECIPROCAL,        "Reciprocal",          "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(EXP,               "Exp",                 "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(LOG,               "Log",                 "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(SIN,               "Sin",                 "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(COS,               "Cos",                 "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(TAN,               "Tan",                 "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(ASIN,              "Asin",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(ACOS,              "Acos",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(ATAN,              "Atan",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(SINH,              "Sinh",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(COSH,              "Cosh",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(TANH,              "Tanh",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(ASINH,             "Asinh",               "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(ACOSH,             "Acosh",               "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(ATANH,             "Atanh",               "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(ERF,               "Erf",                 "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(FLOOR,             "Floor",               "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(CEIL,              "Ceil",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(ROUND,             "Round",               "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(SIGN,              "Sign",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(NOT,               "Not",                 "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(BITWISENOT,        "BitwiseNot",          "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(ISNAN,             "IsNaN",               "", 1, 1, 1, 1, OPF_EW,    infer_ew_bool,      lower_ew)         \
OP(ISINF,             "IsInf",               "", 1, 1, 1, 1, OPF_EW,    infer_ew_bool,      lower_ew)         \
OP(RELU,              "Relu",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(LEAKYRELU,         "LeakyRelu",           "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(SIGMOID,           "Sigmoid",             "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(HARDSIGMOID,       "HardSigmoid",         "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(HARDSWISH,         "HardSwish",           "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(SOFTPLUS,          "Softplus",            "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(SOFTSIGN,          "Softsign",            "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(ELU,               "Elu",                 "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(SELU,              "Selu",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(CELU,              "Celu",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(GELU,              "Gelu",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(MISH,              "Mish",                "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(SWISH,             "Swish",               "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(THRESHOLDEDRELU,   "ThresholdedRelu",     "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(SHRINK,            "Shrink",              "", 1, 1, 1, 1, OPF_EW,    infer_unary,        lower_ew)         \
OP(CAST,              "Cast",                "", 1, 1, 1, 1, OPF_EW | OPF_PACKED, infer_cast,         lower_ew)         \
OP(CASTLIKE,          "CastLike",            "", 2, 2, 1, 1, OPF_EW | OPF_PACKED, infer_cast,         lower_ew)         \
OP(BITCAST,           "BitCast",             "", 1, 1, 1, 1, OPF_EW,    infer_bitcast,      lower_ew)         \
/* elementwise, several inputs, numpy broadcasting */                                                        \
OP(ADD,               "Add",                 "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(SUB,               "Sub",                 "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(MUL,               "Mul",                 "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(DIV,               "Div",                 "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(POW,               "Pow",                 "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(MOD,               "Mod",                 "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(PRELU,             "PRelu",               "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(EQUAL,             "Equal",               "", 2, 2, 1, 1, OPF_EW | OPF_STRING, infer_ew_bool, lower_ew)         \
OP(LESS,              "Less",                "", 2, 2, 1, 1, OPF_EW,    infer_ew_bool,      lower_ew)         \
OP(LESSOREQUAL,       "LessOrEqual",         "", 2, 2, 1, 1, OPF_EW,    infer_ew_bool,      lower_ew)         \
OP(GREATER,           "Greater",             "", 2, 2, 1, 1, OPF_EW,    infer_ew_bool,      lower_ew)         \
OP(GREATEROREQUAL,    "GreaterOrEqual",      "", 2, 2, 1, 1, OPF_EW,    infer_ew_bool,      lower_ew)         \
OP(AND,               "And",                 "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(OR,                "Or",                  "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(XOR,               "Xor",                 "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(BITWISEAND,        "BitwiseAnd",          "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(BITWISEOR,         "BitwiseOr",           "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(BITWISEXOR,        "BitwiseXor",          "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(BITSHIFT,          "BitShift",            "", 2, 2, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(MAX,               "Max",                 "", 1,-1, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(MIN,               "Min",                 "", 1,-1, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(SUM,               "Sum",                 "", 1,-1, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(MEAN,              "Mean",                "", 1,-1, 1, 1, OPF_EW,    infer_binary,       lower_ew)         \
OP(WHERE,             "Where",               "", 3, 3, 1, 1, OPF_EW,    infer_where,        lower_ew)         \
OP(CLIP,              "Clip",                "", 1, 3, 1, 1, OPF_EW,    infer_clip,         lower_ew)         \
/* linear algebra, convolution, pooling */                                                                   \
OP(MATMUL,            "MatMul",              "", 2, 2, 1, 1, 0,         infer_matmul,       lower_matmul)     \
OP(GEMM,              "Gemm",                "", 2, 3, 1, 1, 0,         infer_gemm,         lower_gemm)       \
OP(CONV,              "Conv",                "", 2, 3, 1, 1, 0,         infer_conv,         lower_conv)       \
OP(CONVTRANSPOSE,     "ConvTranspose",       "", 2, 3, 1, 1, 0,         infer_convtranspose,lower_convtranspose) \
OP(MAXPOOL,           "MaxPool",             "", 1, 1, 1, 2, 0,         infer_pool,         lower_pool)       \
OP(AVERAGEPOOL,       "AveragePool",         "", 1, 1, 1, 1, 0,         infer_pool,         lower_pool)       \
OP(LPPOOL,            "LpPool",              "", 1, 1, 1, 1, 0,         infer_pool,         lower_pool)       \
OP(GLOBALAVERAGEPOOL, "GlobalAveragePool",   "", 1, 1, 1, 1, 0,         infer_globalpool,   lower_globalpool) \
OP(GLOBALMAXPOOL,     "GlobalMaxPool",       "", 1, 1, 1, 1, 0,         infer_globalpool,   lower_globalpool) \
/* normalization and softmax */                                                                              \
OP(BATCHNORMALIZATION,"BatchNormalization",  "", 5, 5, 1, 3, 0,         infer_batchnorm,    lower_batchnorm)  \
OP(INSTANCENORMALIZATION,"InstanceNormalization","",3,3,1,1, 0,         infer_instancenorm, lower_instancenorm) \
OP(LAYERNORMALIZATION,"LayerNormalization",  "", 2, 3, 1, 3, 0,         infer_layernorm,    lower_layernorm)  \
OP(SOFTMAX,           "Softmax",             "", 1, 1, 1, 1, 0,         infer_softmax,      lower_softmax)    \
OP(LOGSOFTMAX,        "LogSoftmax",          "", 1, 1, 1, 1, 0,         infer_softmax,      lower_softmax)    \
OP(HARDMAX,           "Hardmax",             "", 1, 1, 1, 1, 0,         infer_softmax,      lower_softmax)    \
/* reductions */                                                                                             \
OP(REDUCESUM,         "ReduceSum",           "", 1, 2, 1, 1, 0,         infer_reduce,       lower_reduce)     \
OP(REDUCEMEAN,        "ReduceMean",          "", 1, 2, 1, 1, 0,         infer_reduce,       lower_reduce)     \
OP(REDUCEMAX,         "ReduceMax",           "", 1, 2, 1, 1, 0,         infer_reduce,       lower_reduce)     \
OP(REDUCEMIN,         "ReduceMin",           "", 1, 2, 1, 1, 0,         infer_reduce,       lower_reduce)     \
OP(REDUCEPROD,        "ReduceProd",          "", 1, 2, 1, 1, 0,         infer_reduce,       lower_reduce)     \
OP(REDUCEL1,          "ReduceL1",            "", 1, 2, 1, 1, 0,         infer_reduce,       lower_reduce)     \
OP(REDUCEL2,          "ReduceL2",            "", 1, 2, 1, 1, 0,         infer_reduce,       lower_reduce)     \
OP(REDUCELOGSUM,      "ReduceLogSum",        "", 1, 2, 1, 1, 0,         infer_reduce,       lower_reduce)     \
OP(REDUCELOGSUMEXP,   "ReduceLogSumExp",     "", 1, 2, 1, 1, 0,         infer_reduce,       lower_reduce)     \
OP(REDUCESUMSQUARE,   "ReduceSumSquare",     "", 1, 2, 1, 1, 0,         infer_reduce,       lower_reduce)     \
OP(ARGMAX,            "ArgMax",              "", 1, 1, 1, 1, 0,         infer_argminmax,    lower_argminmax)  \
OP(ARGMIN,            "ArgMin",              "", 1, 1, 1, 1, 0,         infer_argminmax,    lower_argminmax)  \
/* shapes and data movement */                                                                               \
OP(IDENTITY,          "Identity",            "", 1, 1, 1, 1, OPF_VIEW | OPF_SEQ, infer_identity, lower_none)    \
OP(DROPOUT,           "Dropout",             "", 1, 3, 1, 2, 0,         infer_dropout,      lower_dropout)    \
OP(BERNOULLI,         "Bernoulli",           "", 1, 1, 1, 1, 0,         infer_bernoulli,    lower_bernoulli)  \
OP(RANDOMUNIFORM,     "RandomUniform",       "", 0, 0, 1, 1, 0,         infer_randomuniform, lower_randomuniform) \
OP(RANDOMUNIFORMLIKE, "RandomUniformLike",   "", 1, 1, 1, 1, 0,         infer_randomuniform, lower_randomuniform) \
OP(RESHAPE,           "Reshape",             "", 1, 2, 1, 1, OPF_VIEW,  infer_reshape,      lower_none)       \
OP(FLATTEN,           "Flatten",             "", 1, 1, 1, 1, OPF_VIEW,  infer_flatten,      lower_none)       \
OP(SQUEEZE,           "Squeeze",             "", 1, 2, 1, 1, OPF_VIEW,  infer_squeeze,      lower_none)       \
OP(UNSQUEEZE,         "Unsqueeze",           "", 1, 2, 1, 1, OPF_VIEW,  infer_unsqueeze,    lower_none)       \
OP(TRANSPOSE,         "Transpose",           "", 1, 1, 1, 1, 0,         infer_transpose,    lower_transpose)  \
OP(CONCAT,            "Concat",              "", 1,-1, 1, 1, 0,         infer_concat,       lower_concat)     \
OP(SPLIT,             "Split",               "", 1, 2, 1,-1, 0,         infer_split,        lower_split)      \
OP(SLICE,             "Slice",               "", 1, 5, 1, 1, 0,         infer_slice,        lower_slice)      \
OP(GATHER,            "Gather",              "", 2, 2, 1, 1, 0,         infer_gather,       lower_gather)     \
OP(GATHERELEMENTS,    "GatherElements",      "", 2, 2, 1, 1, 0,         infer_gatherelements,lower_gatherelements) \
OP(EXPAND,            "Expand",              "", 2, 2, 1, 1, 0,         infer_expand,       lower_expand)     \
OP(TILE,              "Tile",                "", 2, 2, 1, 1, 0,         infer_tile,         lower_tile)       \
OP(PAD,               "Pad",                 "", 1, 4, 1, 1, 0,         infer_pad,          lower_pad)        \
OP(DEPTHTOSPACE,      "DepthToSpace",        "", 1, 1, 1, 1, 0,         infer_depthtospace, lower_depthtospace) \
OP(SPACETODEPTH,      "SpaceToDepth",        "", 1, 1, 1, 1, 0,         infer_depthtospace, lower_depthtospace) \
OP(TRILU,             "Trilu",               "", 1, 2, 1, 1, 0,         infer_trilu,        lower_trilu)      \
OP(RESIZE,            "Resize",              "", 1, 4, 1, 1, 0,         infer_resize,       lower_resize)     \
OP(UPSAMPLE,          "Upsample",            "", 1, 2, 1, 1, 0,         infer_resize,       lower_resize)     \
/* values computed from shapes or attributes */                                                             \
OP(SHAPE,             "Shape",               "", 1, 1, 1, 1, 0,         infer_shape,        lower_none)       \
OP(SIZE,              "Size",                "", 1, 1, 1, 1, 0,         infer_size,         lower_none)       \
OP(CONSTANT,          "Constant",            "", 0, 0, 1, 1, 0,         infer_constant,     lower_none)       \
OP(CONSTANTOFSHAPE,   "ConstantOfShape",     "", 1, 1, 1, 1, 0,         infer_constantofshape,lower_constantofshape) \
OP(RANGE,             "Range",               "", 3, 3, 1, 1, 0,         infer_range,        lower_range)      \
OP(EYELIKE,           "EyeLike",             "", 1, 1, 1, 1, 0,         infer_eyelike,      lower_eyelike)    \
/* indexing, scattering, scans, selection (index.c) */                                                      \
OP(GATHERND,          "GatherND",            "", 2, 2, 1, 1, 0,         infer_gathernd,     lower_gathernd)   \
OP(SCATTERND,         "ScatterND",           "", 3, 3, 1, 1, OPF_NOEPI | OPF_INPLACE, infer_scatter,      lower_scatter)    \
OP(SCATTERELEMENTS,   "ScatterElements",     "", 3, 3, 1, 1, OPF_NOEPI | OPF_INPLACE, infer_scatter,      lower_scatter)    \
OP(SCATTER,           "Scatter",             "", 3, 3, 1, 1, OPF_NOEPI | OPF_INPLACE, infer_scatter,      lower_scatter)    \
OP(TENSORSCATTER,     "TensorScatter",       "", 2, 3, 1, 1, OPF_NOEPI | OPF_INPLACE, infer_tensorscatter, lower_tensorscatter) \
OP(ONEHOT,            "OneHot",              "", 3, 3, 1, 1, 0,         infer_onehot,       lower_onehot)     \
OP(CUMSUM,            "CumSum",              "", 2, 2, 1, 1, 0,         infer_cumulative,   lower_cumulative) \
OP(CUMPROD,           "CumProd",             "", 2, 2, 1, 1, 0,         infer_cumulative,   lower_cumulative) \
OP(REVERSESEQUENCE,   "ReverseSequence",     "", 2, 2, 1, 1, 0,         infer_reversesequence,lower_reversesequence) \
OP(TOPK,              "TopK",                "", 1, 2, 2, 2, OPF_NOEPI, infer_topk,         lower_topk)       \
/* data-dependent output shapes (dynamic.c) */                                                                \
OP(NONZERO,           "NonZero",             "", 1, 1, 1, 1, OPF_NOEPI, infer_nonzero,      lower_nonzero)    \
OP(COMPRESS,          "Compress",            "", 2, 2, 1, 1, OPF_NOEPI, infer_compress,     lower_compress)   \
OP(UNIQUE,            "Unique",              "", 1, 1, 1, 4, OPF_NOEPI, infer_unique,       lower_unique)     \
OP(NONMAXSUPPRESSION, "NonMaxSuppression",   "", 2, 5, 1, 1, OPF_NOEPI, infer_nms,          lower_nms)        \
/* losses (loss.c) */                                                                                         \
OP(NEGATIVELOGLIKELIHOODLOSS,"NegativeLogLikelihoodLoss","",2,3,1,1,0,  infer_nllloss,      lower_nllloss)    \
OP(SOFTMAXCROSSENTROPYLOSS,"SoftmaxCrossEntropyLoss","",2,3,1,2,0,      infer_sceloss,      lower_sceloss)    \
/* attention (attention.c) */                                                                                 \
OP(ATTENTION,         "Attention",           "", 3, 7, 1, 4, OPF_NOEPI, infer_attention,    lower_attention)  \
OP(ROTARYEMBEDDING,   "RotaryEmbedding",     "", 3, 4, 1, 1, 0,         infer_rotary,       lower_rotary)     \
/* quantization (quant.c) */                                                                                  \
OP(QUANTIZELINEAR,    "QuantizeLinear",      "", 2, 3, 1, 1, OPF_PACKED, infer_quantize,     lower_quantize)   \
OP(DEQUANTIZELINEAR,  "DequantizeLinear",    "", 2, 3, 1, 1, OPF_PACKED, infer_quantize,     lower_quantize)   \
OP(DYNAMICQUANTIZELINEAR,"DynamicQuantizeLinear","",1,1,3,3, OPF_NOEPI, infer_dynquant,     lower_dynquant)   \
OP(MATMULINTEGER,     "MatMulInteger",       "", 2, 4, 1, 1, 0,         infer_matmulinteger,lower_matmulinteger) \
OP(QLINEARMATMUL,     "QLinearMatMul",       "", 8, 8, 1, 1, 0,         infer_qlinearmatmul,lower_qlinearmatmul) \
OP(CONVINTEGER,       "ConvInteger",         "", 2, 4, 1, 1, 0,         infer_convinteger,  lower_convinteger) \
OP(QLINEARCONV,       "QLinearConv",         "", 8, 9, 1, 1, 0,         infer_qlinearconv,  lower_qlinearconv) \
/* quantized forms of ONNX Runtime's contrib domain (quant.c, pool.c) */                                      \
OP(QLINEARADD,        "QLinearAdd",          "com.microsoft", 7, 8, 1, 1, OPF_EW, infer_qlinearadd, lower_ew)  \
OP(QLINEARAVERAGEPOOL,"QLinearAveragePool",  "com.microsoft", 4, 5, 1, 1, 0, infer_pool,         lower_pool)       \
OP(QLINEARGLOBALAVERAGEPOOL,"QLinearGlobalAveragePool","com.microsoft",5,5,1,1,0,infer_globalpool,lower_globalpool) \
/* image ops (image.c; ImageDecoder imgdec.c) */                                                                \
OP(GRIDSAMPLE,        "GridSample",          "", 2, 2, 1, 1, 0,         infer_gridsample,   lower_gridsample) \
OP(AFFINEGRID,        "AffineGrid",          "", 2, 2, 1, 1, 0,         infer_affinegrid,   lower_affinegrid) \
OP(COL2IM,            "Col2Im",              "", 3, 3, 1, 1, 0,         infer_col2im,       lower_col2im)     \
OP(CENTERCROPPAD,     "CenterCropPad",       "", 2, 2, 1, 1, 0,         infer_centercroppad,lower_centercroppad) \
OP(ROIALIGN,          "RoiAlign",            "", 3, 3, 1, 1, 0,         infer_roialign,     lower_roialign)   \
OP(MAXUNPOOL,         "MaxUnpool",           "", 2, 3, 1, 1, OPF_NOEPI, infer_maxunpool,    lower_maxunpool)  \
OP(DEFORMCONV,        "DeformConv",          "", 3, 5, 1, 1, 0,         infer_deformconv,   lower_deformconv) \
OP(IMAGEDECODER,      "ImageDecoder",        "", 1, 1, 1, 1, 0,         infer_imagedecoder, lower_imagedecoder) \
/* signals and linear algebra (signal.c) */                                                                   \
OP(HANNWINDOW,        "HannWindow",          "", 1, 1, 1, 1, 0,         infer_window,       lower_window)     \
OP(HAMMINGWINDOW,     "HammingWindow",       "", 1, 1, 1, 1, 0,         infer_window,       lower_window)     \
OP(BLACKMANWINDOW,    "BlackmanWindow",      "", 1, 1, 1, 1, 0,         infer_window,       lower_window)     \
OP(DFT,               "DFT",                 "", 1, 3, 1, 1, 0,         infer_dft,          lower_dft)        \
OP(STFT,              "STFT",                "", 2, 4, 1, 1, 0,         infer_stft,         lower_stft)       \
OP(MELWEIGHTMATRIX,   "MelWeightMatrix",     "", 5, 5, 1, 1, 0,         infer_melweightmatrix,lower_melweightmatrix) \
OP(EINSUM,            "Einsum",              "", 1,-1, 1, 1, 0,         infer_einsum,       lower_einsum)     \
OP(DET,               "Det",                 "", 1, 1, 1, 1, OPF_NOEPI, infer_det,          lower_det)        \
/* normalization (norm.c) */                                                                                  \
OP(RMSNORMALIZATION,  "RMSNormalization",    "", 2, 2, 1, 1, 0,         infer_rmsnorm,      lower_rmsnorm)    \
OP(GROUPNORMALIZATION,"GroupNormalization",  "", 3, 3, 1, 1, 0,         infer_groupnorm,    lower_groupnorm)  \
OP(LPNORMALIZATION,   "LpNormalization",     "", 1, 1, 1, 1, 0,         infer_lpnorm,       lower_lpnorm)     \
OP(MEANVARIANCENORMALIZATION,"MeanVarianceNormalization","",1,1,1,1,0,  infer_mvn,          lower_mvn)        \
OP(LRN,               "LRN",                 "", 1, 1, 1, 1, 0,         infer_lrn,          lower_lrn)        \
/* newer sequence-model ops (attention.c) */                                                                  \
OP(SWIGLU,            "SwiGLU",              "", 2, 2, 1, 1, 0,         infer_swiglu,       lower_swiglu)     \
OP(CAUSALCONVWITHSTATE,"CausalConvWithState","", 2, 4, 2, 2, OPF_NOEPI, infer_causalconv,   lower_causalconv) \
OP(LINEARATTENTION,   "LinearAttention",     "", 3, 6, 2, 2, OPF_NOEPI, infer_linearattention,lower_linearattention) \
/* ai.onnx.ml and training ops (ml.c) */                                                                      \
OP(BINARIZER,         "Binarizer",           "ai.onnx.ml", 1, 1, 1, 1, 0, infer_binarizer,  lower_binarizer)  \
OP(ARRAYFEATUREEXTRACTOR,"ArrayFeatureExtractor","ai.onnx.ml",2,2,1,1,0, infer_arrayfeature,lower_arrayfeature) \
OP(LABELENCODER,      "LabelEncoder",        "ai.onnx.ml", 1, 1, 1, 1, OPF_STRING, infer_labelencoder,lower_labelencoder) \
OP(TREEENSEMBLE,      "TreeEnsemble",        "ai.onnx.ml", 1, 1, 1, 1, 0, infer_treeensemble,lower_treeensemble) \
OP(TFIDFVECTORIZER,   "TfIdfVectorizer",     "", 1, 1, 1, 1, 0,         infer_tfidf,        lower_tfidf)      \
OP(ADAGRAD,           "Adagrad",   "ai.onnx.preview.training", 3,-1, 1,-1, OPF_NOEPI, infer_optimizer, lower_optimizer) \
OP(ADAM,              "Adam",      "ai.onnx.preview.training", 3,-1, 1,-1, OPF_NOEPI, infer_optimizer, lower_optimizer) \
OP(MOMENTUM,          "Momentum",  "ai.onnx.preview.training", 3,-1, 1,-1, OPF_NOEPI, infer_optimizer, lower_optimizer) \
/* strings (strings.c) */                                                                                     \
OP(STRINGCONCAT,      "StringConcat",        "", 2, 2, 1, 1, OPF_STRING | OPF_NOEPI, infer_stringconcat, lower_stringconcat) \
OP(STRINGSPLIT,       "StringSplit",         "", 1, 1, 2, 2, OPF_STRING | OPF_NOEPI, infer_stringsplit, lower_stringsplit) \
OP(STRINGNORMALIZER,  "StringNormalizer",    "", 1, 1, 1, 1, OPF_STRING | OPF_NOEPI, infer_stringnormalizer, lower_stringnormalizer) \
OP(REGEXFULLMATCH,    "RegexFullMatch",      "", 1, 1, 1, 1, OPF_STRING | OPF_NOEPI, infer_regexfullmatch, lower_regexfullmatch) \
/* recurrent (rnn.c) */                                                                                      \
OP(GRU,               "GRU",                 "", 3, 6, 0, 2, OPF_NOEPI, infer_gru,          lower_gru)        \
OP(RNN,               "RNN",                 "", 3, 6, 0, 2, OPF_NOEPI, infer_rnn,          lower_rnn)        \
/* control flow with subgraphs (control.c) */                                                               \
OP(IF,                "If",                  "", 1, 1, 1,-1, OPF_NOEPI|OPF_BODY|OPF_SEQ, infer_if, lower_if)   \
OP(LOOP,              "Loop",                "", 0,-1, 1,-1, OPF_NOEPI|OPF_BODY|OPF_SEQ, infer_loop, lower_loop) \
OP(FLEXATTENTION,     "FlexAttention", "ai.onnx.preview", 3, 3, 1, 1, OPF_NOEPI|OPF_BODY, infer_flexattention, lower_flexattention) \
OP(SCAN,              "Scan",                "", 0,-1, 1,-1, OPF_NOEPI|OPF_BODY, infer_scan,lower_scan)       \
/* recurrent */                                                                                              \
OP(LSTM,              "LSTM",                "", 3, 8, 0, 3, OPF_NOEPI, infer_lstm,         lower_lstm)       \
/* sequences and optionals: rewritten into tensors during inference (sequence.c) */                          \
OP(SEQUENCECONSTRUCT, "SequenceConstruct",   "", 1,-1, 1, 1, OPF_SEQ,   infer_seqconstruct, lower_none)       \
OP(SEQUENCEEMPTY,     "SequenceEmpty",       "", 0, 0, 1, 1, OPF_SEQ,   infer_seqempty,     lower_none)       \
OP(SEQUENCEINSERT,    "SequenceInsert",      "", 2, 3, 1, 1, OPF_SEQ,   infer_seqinsert,    lower_none)       \
OP(SEQUENCEERASE,     "SequenceErase",       "", 1, 2, 1, 1, OPF_SEQ,   infer_seqerase,     lower_none)       \
OP(SEQUENCEAT,        "SequenceAt",          "", 2, 2, 1, 1, OPF_SEQ,   infer_seqat,        lower_none)       \
OP(SEQUENCELENGTH,    "SequenceLength",      "", 1, 1, 1, 1, OPF_SEQ,   infer_seqlength,    lower_none)       \
OP(SPLITTOSEQUENCE,   "SplitToSequence",     "", 1, 2, 1, 1, OPF_SEQ,   infer_splittoseq,   lower_none)       \
OP(CONCATFROMSEQUENCE,"ConcatFromSequence",  "", 1, 1, 1, 1, OPF_SEQ,   infer_concatfromseq,lower_none)       \
OP(OPTIONAL,          "Optional",            "", 0, 1, 1, 1, OPF_SEQ,   infer_optional,     lower_none)       \
OP(OPTIONALHASELEMENT,"OptionalHasElement",  "", 0, 1, 1, 1, OPF_SEQ,   infer_opthas,       lower_none)       \
OP(OPTIONALGETELEMENT,"OptionalGetElement",  "", 1, 1, 1, 1, OPF_SEQ,   infer_optget,       lower_none)       \
OP(SEQUENCEMAP,       "SequenceMap",         "", 1,-1, 1,-1, OPF_SEQ|OPF_BODY, infer_seqmap,  lower_none)
/* clang-format on */

typedef enum OpKind {
#define OP(kind, name, dom, in, IN, out, OUT, flags, infer, lower) OP_##kind,
    KILN_OPS(OP)
#undef OP
    OP_COUNT
} OpKind;

enum {
    OPF_EW = 1 << 0,    /* elementwise: output[i] = f(inputs broadcast at i) */
    OPF_VIEW = 1 << 1,  /* output shares the input's storage */
    OPF_NOEPI = 1 << 2, /* cannot host a fused epilogue */
    OPF_INPLACE = 1 << 3, /* output may be input 0's storage (a copy, then updates) */
    OPF_PACKED = 1 << 4, /* takes and makes packed types (lw_load decodes, lw_store_packed encodes) */
    OPF_BODY = 1 << 5,  /* runs subgraphs (graph attributes): its kernel loops or branches over their nodes */
    OPF_SEQ = 1 << 6,   /* takes sequences and optionals (sequence.c): rewritten into tensors by inference */
    OPF_STRING = 1 << 7, /* takes string tensors (their elements only through kiln_str_* calls) */
};

#endif
