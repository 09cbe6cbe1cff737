let enabled = true;

/** Whether ops record autograd history now. */
export const isGradEnabled = (): boolean => enabled;

/** Runs `fn` with gradient recording switched to `on`, restoring the previous mode after. */
export function withGradMode<T>(on: boolean, fn: () => T): T {
  const prev = enabled;
  enabled = on;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

/**
 * Runs `fn` without recording autograd history, like `with torch.no_grad():`.
 *
 * @example
 * const y = st.noGrad(() => model.forward(x)); // y.requiresGrad === false
 */
export const noGrad = <T>(fn: () => T): T => withGradMode(false, fn);

/** Runs `fn` with autograd history recorded, even inside `noGrad`. */
export const enableGrad = <T>(fn: () => T): T => withGradMode(true, fn);
