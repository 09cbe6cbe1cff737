/**
 * The standard layers of `st.nn`, with PyTorch's semantics, default initialisation
 * (`resetParameters()`) and state-dict keys.
 */
export { ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh } from "./activation.ts";
export { BatchNorm1d, BatchNorm2d, type BatchNormOpts } from "./batchnorm.ts";
export { Conv1d, Conv2d, type ConvOpts, ConvTranspose1d, ConvTranspose2d, type ConvTransposeOpts, type PaddingMode } from "./conv.ts";
export { Dropout } from "./dropout.ts";
export { Flatten, Unflatten } from "./flatten.ts";
export { Bilinear, Identity, Linear, type LinearOpts } from "./linear.ts";
export { GroupNorm, type GroupNormOpts, LayerNorm, type LayerNormOpts, RMSNorm, type RMSNormOpts } from "./normalization.ts";
export { AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, type AvgPoolOpts, MaxPool1d, MaxPool2d, type MaxPoolOpts } from "./pooling.ts";
export { Embedding, type EmbeddingOpts } from "./sparse.ts";
