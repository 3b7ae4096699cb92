import { range, seededRandom, shuffleInPlace } from '../../protocol/index.js';
import { cutByShares } from './partition.js';
import type { MailCorpus } from './spam-assassin.js';

/** One bank of the mail scenario: its share of the sites' mail and the spam rate it sees. */
export interface MailBank {
  readonly name: string;
  readonly share: number;
  readonly spamRate: number;
  readonly description: string;
}

/**
 * Five banks' mail gateways, a few big and a tail of small ones, as in a real banking market.
 * How much spam reaches a bank's filter depends on how exposed its addresses are, so the spam
 * rates differ: the corpus's own rate (30 %) on average, from 43 % at an online bank whose
 * customers' addresses are everywhere to 5 % at a private bank behind an upstream filter.
 */
export const MAIL_BANKS: readonly MailBank[] = [
  {
    name: 'retail',
    share: 0.4,
    spamRate: 0.33,
    description: 'large retail bank, addresses on every branch page',
  },
  {
    name: 'online',
    share: 0.25,
    spamRate: 0.43,
    description: 'online-only bank, whose customers phishers target',
  },
  {
    name: 'regional',
    share: 0.15,
    spamRate: 0.22,
    description: 'regional savings bank, mostly local correspondence',
  },
  {
    name: 'business',
    share: 0.12,
    spamRate: 0.18,
    description: 'business bank, a few addresses known to partners',
  },
  {
    name: 'private',
    share: 0.08,
    spamRate: 0.05,
    description: 'private bank, unlisted addresses behind an upstream filter: mostly ham',
  },
];

/**
 * The parts' shares of every class. The outside teacher's mail is the largest part: its knowledge
 * is what distillation brings in. The transfer set and the evaluation split are as large as
 * each other; the banks share the rest.
 */
export const MAIL_SHARES = { outside: 0.3, publicSplit: 0.15, heldOut: 0.15, sites: 0.4 } as const;

/** Disjoint parts of the corpus; each holds its emails in id order. */
export interface MailSplit {
  /** What the outside teacher learned from: mail that no site, nor the coordinator, holds. */
  readonly outside: MailCorpus;
  /** The coordinator's transfer set; the scenario withholds its labels from the run. */
  readonly publicSplit: MailCorpus;
  /** The coordinator's evaluation split. */
  readonly heldOut: MailCorpus;
  /** One part per bank, in MAIL_BANKS order. */
  readonly sites: readonly MailCorpus[];
}

function selectMail(corpus: MailCorpus, rows: number[]): MailCorpus {
  rows.sort((a, b) => a - b);
  return {
    ids: rows.map((r) => corpus.ids[r]!),
    groups: rows.map((r) => corpus.groups[r]!),
    texts: rows.map((r) => corpus.texts[r]!),
    labels: Int32Array.from(rows, (r) => corpus.labels[r]!),
  };
}

const normalized = (weights: readonly number[]): number[] => {
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
};

/**
 * Seeded split, stratified by class: each class's emails, shuffled, are cut into the MAIL_SHARES
 * parts, so the outside, public and held-out parts keep the corpus's spam rate. The banks' ham
 * and spam are then cut in proportion to share x (1 - spamRate) and share x spamRate: each bank
 * gets about its share of the rows and about its spam rate.
 */
export function splitMail(corpus: MailCorpus, seed: number): MailSplit {
  const random = seededRandom(seed);
  const shares = [
    MAIL_SHARES.outside,
    MAIL_SHARES.publicSplit,
    MAIL_SHARES.heldOut,
    MAIL_SHARES.sites,
  ];
  const bankShares = [
    normalized(MAIL_BANKS.map((b) => b.share * (1 - b.spamRate))),
    normalized(MAIL_BANKS.map((b) => b.share * b.spamRate)),
  ];
  const parts: number[][] = range(3 + MAIL_BANKS.length).map(() => []);
  for (const label of [0, 1]) {
    const rows = range(corpus.labels.length).filter((r) => corpus.labels[r] === label);
    const [outside, publicSplit, heldOut, sites] = cutByShares(
      shuffleInPlace(rows, random),
      shares,
    );
    [outside!, publicSplit!, heldOut!, ...cutByShares(sites!, bankShares[label]!)].forEach(
      (piece, part) => parts[part]!.push(...piece),
    );
  }
  const names = ['outside', 'public', 'held-out', ...MAIL_BANKS.map((b) => `bank ${b.name}`)];
  parts.forEach((rows, part) => {
    const spam = rows.filter((r) => corpus.labels[r] === 1).length;
    if (spam === 0 || spam === rows.length) {
      throw new Error(
        `the ${names[part]} part of ${corpus.labels.length} emails holds ${rows.length}, ${spam} of them spam: both classes are needed`,
      );
    }
  });
  const [outside, publicSplit, heldOut, ...sites] = parts.map((rows) => selectMail(corpus, rows));
  return { outside: outside!, publicSplit: publicSplit!, heldOut: heldOut!, sites };
}
