/**
 * `st.nn` loss modules (MSELoss, CrossEntropyLoss, CTCLoss, ...). Their functional forms are in
 * `st.nn.functional`.
 */
export {
  BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss, CTCLoss, HuberLoss, KLDivLoss, L1Loss, Loss, MSELoss, NLLLoss,
  SmoothL1Loss, TripletMarginLoss, type CrossEntropyLossOpts, type LossOpts,
} from "./losses.ts";
