// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Folders may only import downwards: protocol stands on nothing of ours (STYLE.md, Direction). */
const onlyThroughProtocolIndex = {
  group: ['**/protocol/*', '!**/protocol/index.js'],
  message: 'import protocol only through protocol/index.js',
};

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
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            onlyThroughProtocolIndex,
            {
              group: ['**/client/**', '**/cli/**'],
              message: 'the coordinator never imports the site client',
            },
          ],
        },
      ],
    },
  },
);
