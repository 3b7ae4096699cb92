/** A weight's wire name (its TensorFlow.js name) and shape, in the model's weight order. */
export interface WeightSlot {
  readonly name: string;
  readonly shape: readonly number[];
}

/** The weights of ReLU layers `hidden_1`... then `logits`, from `inputs` values. */
export function denseSlots(
  inputs: number,
  hidden: readonly number[],
  classes: number,
): WeightSlot[] {
  const widths = [inputs, ...hidden, classes];
  const slots: WeightSlot[] = [];
  for (let i = 1; i < widths.length; i++) {
    const layer = i === widths.length - 1 ? 'logits' : `hidden_${i}`;
    slots.push({ name: `${layer}/kernel`, shape: [widths[i - 1]!, widths[i]!] });
    slots.push({ name: `${layer}/bias`, shape: [widths[i]!] });
  }
  return slots;
}

/** The name of the dense layer at `index` of `hidden` then the logits. */
export const denseLayerName = (index: number, hidden: readonly number[]): string =>
  index === hidden.length ? 'logits' : `hidden_${index + 1}`;
