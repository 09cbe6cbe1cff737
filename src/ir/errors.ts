/**
 * The error family of Strata. Every error a user can cause is one of these, and its message names
 * the op and the values involved, the way PyTorch's messages do.
 */
export class StrataError extends Error {
  override name = "StrataError";
}

/** Shapes that do not fit the op: raised when the op is called, not when the graph runs. */
export class ShapeError extends StrataError {
  override name = "ShapeError";
}

/** A dtype the op does not accept, or two dtypes that must match and do not. */
export class DTypeError extends StrataError {
  override name = "DTypeError";
}

/** An index or dimension outside its range. */
export class IndexError extends StrataError {
  override name = "IndexError";
}

/** An argument with a value the op cannot use (a negative size, a bad option, ...). */
export class ValueError extends StrataError {
  override name = "ValueError";
}

/** Tensors on different devices, or a device that does not exist. */
export class DeviceError extends StrataError {
  override name = "DeviceError";
}

/** Autograd misuse: backward through a freed graph, a tensor changed in place after it was saved, ... */
export class AutogradError extends StrataError {
  override name = "AutogradError";
}

/** A tensor used after `dispose()` or after its `st.scope` ended. */
export class DisposedError extends StrataError {
  override name = "DisposedError";
}

/** A function given to `st.jit` that cannot be traced (it reads values on the host, or is async). */
export class JitError extends StrataError {
  override name = "JitError";
}
