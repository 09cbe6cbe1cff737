/**
 * Strata models that more than one benchmark script builds (strata.ts trains and infers with the
 * CNN; ort.ts exports the same CNN for ONNX Runtime).
 */
import * as st from "../../src/index.ts";

/** The benchmark CNN: conv 5x5 1->32, ReLU, max pool 2, conv 5x5 32->64, ReLU, max pool 2, linear 1024->10. */
export function benchCnn(): st.nn.Sequential {
  return new st.nn.Sequential(
    new st.nn.Conv2d(1, 32, 5), new st.nn.ReLU(), new st.nn.MaxPool2d(2),
    new st.nn.Conv2d(32, 64, 5), new st.nn.ReLU(), new st.nn.MaxPool2d(2),
    new st.nn.Flatten(), new st.nn.Linear(1024, 10),
  );
}
