// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Folders may only import downwards: protocol stands on nothing of ours (STYLE.md, Direction). */
const onlyThroughProtocolIndex = {
  // The tokenizer loads a native library, so only the code that encodes text imports it.
  regex: '(^|/)protocol/(?!index\\.js$|text/tokenizer\\.js$)',
  message: 'import protocol only through protocol/index.js (or protocol/text/tokenizer.js)',
};

/** What the coordinator never imports, from any depth. */
const coordinatorPatterns = [
  onlyThroughProtocolIndex,
  {
    group: ['**/client/**', '**/cli/**'],
    message: 'the coordinator never imports the site client',
  },
  {
    group: ['**/tests/**', '**/bench/**', '**/harness/**'],
    message: 'the coordinator never imports tests, benchmarks or their harness',
  },
];

/**
 * The browser dashboard lives in the top-level dashboard/ and coordinator/dashboard/ serves it,
 * so `dashboard/` in an import path means either: one that climbs out of coordinator/ (one `../`
 * more than the file's depth below it) reaches the browser code. One block per depth.
 */
const coordinatorDepths = [0, 1, 2, 3].map((depth) => ({
  files: [`coordinator/${'*/'.repeat(depth)}*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...coordinatorPatterns,
          {
            regex: `^(\\.\\./){${depth + 1}}dashboard(/|$)`,
            message:
              'the coordinator never imports the browser dashboard: the feed contract is protocol/operator-feed.ts',
          },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'runs/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/client/**', '**/coordinator/**', '**/cli/**', '@nestjs/*'],
              message: 'protocol imports nothing of ours and never Nest',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['client/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            onlyThroughProtocolIndex,
            {
              group: ['**/coordinator/**', '**/cli/**', '@nestjs/*'],
              message: 'a site never imports the coordinator',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['coordinator/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: coordinatorPatterns }] },
  },
  ...coordinatorDepths,
  {
    files: ['bench/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/tests/**'],
              message: 'benchmarks never import tests: what both drive lives in harness/',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['dashboard/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/coordinator/**', '**/client/**', '**/cli/**'],
              message: 'the browser dashboard imports only the operator feed contract',
            },
            {
              group: [
                '**/protocol/*',
                '!**/protocol/operator-feed.js',
                '!**/protocol/operator-feed-events.js',
              ],
              message:
                'the browser loads protocol/operator-feed-events.js and nothing else of ours',
            },
            {
              group: ['**/protocol/operator-feed.js', 'zod', 'zod/*'],
              allowTypeImports: true,
              message:
                'the browser loads no zod: import types from operator-feed.js, names from operator-feed-events.js',
            },
          ],
        },
      ],
    },
  },
);
