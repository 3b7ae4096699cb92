/**
 * A teacher logits matrix: one row per public-split row (its 0-based index), one column per class.
 * Its own module because every format (logits-binary.ts, logits-jsonl.ts) and the reader that
 * picks one (teacher-logits.ts) use it.
 */
export interface LogitsShape {
  readonly rows: number;
  readonly classes: number;
}
