/** Rows carry ISO-8601 UTC times of this one format, so that they compare as text in time order. */
export const isoNow = (): string => new Date().toISOString();
