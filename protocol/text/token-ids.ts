/**
 * A text becomes a fixed-length row of token ids, so that text rides every path a numeric row
 * does (the transfer-set blob, the teacher's logits, the loss): ids below 2^24 are exact in
 * float32. Id 0 pads a short text; id 1 stands for what the vocabulary cannot spell.
 */
export const PAD_ID = 0;
export const UNK_ID = 1;

/** The most ids a vocabulary may hold: the student's embedding has a row for each. */
export const MAX_VOCABULARY = 65_536;

/** The feature names of `length` token positions, what a run's `features` lists for text. */
export const tokenFeatureNames = (length: number): string[] =>
  Array.from({ length }, (_, i) => `token_${i}`);
