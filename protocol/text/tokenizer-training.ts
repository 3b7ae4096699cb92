import {
  BPE,
  bertPreTokenizer,
  lowercase,
  nfkcNormalizer,
  sequenceNormalizer,
  Tokenizer,
} from 'tokenizers';

/**
 * Child process of `trainTokenizer`: trains byte-pair merges on the corpus file (argv[2]) and
 * saves the tokenizer.json (argv[3]). Run alone so that the library's progress output lands in
 * this process's standard output, not the caller's.
 */
const [corpus, out] = process.argv.slice(2);
if (!corpus || !out) throw new Error('usage: tokenizer-training <corpus.txt> <tokenizer.json>');
const tokenizer = new Tokenizer(BPE.empty());
tokenizer.setNormalizer(sequenceNormalizer([nfkcNormalizer(), lowercase()]));
tokenizer.setPreTokenizer(bertPreTokenizer());
tokenizer.train([corpus]);
tokenizer.save(out);
