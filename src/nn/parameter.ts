import { noGrad } from "../autograd/grad-mode.ts";
import { Tensor } from "../tensor/tensor.ts";

/**
 * A tensor that is a module's weight: it requires grad by default and is found by
 * `module.parameters()` when assigned to a field.
 *
 * @example
 * this.weight = new st.nn.Parameter(st.randn([10, 5]));
 */
export class Parameter extends Tensor {
  constructor(data: Tensor, requiresGrad = true) {
    // A parameter is a leaf: it holds the data's value, not its history.
    super(noGrad(() => data.detach()).node);
    this.pinned = true;
    if (requiresGrad) this.requiresGrad_(true);
  }
}
