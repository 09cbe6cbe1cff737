/** Recurrent, attention and transformer layers, with PyTorch's semantics and state-dict keys. */
export { PackedSequence, packPaddedSequence, padPackedSequence, packSequence, padSequence } from "./packing.ts";
export { GRU, GRUCell, LSTM, LSTMCell, RNN, RNNBase, RNNCell, gruCell, lstmCell, rnnReluCell, rnnTanhCell, type RNNMode, type RNNOptions } from "./rnn.ts";
export { MultiheadAttention, causalMask, type MultiheadAttentionForwardOpts, type MultiheadAttentionOpts } from "./attention.ts";
export {
  Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer, cloneModule,
  type Activation, type DecoderLayerForwardOpts, type EncoderForwardOpts, type EncoderLayerForwardOpts, type TransformerForwardOpts,
  type TransformerLayerOpts, type TransformerOpts,
} from "./transformer.ts";
