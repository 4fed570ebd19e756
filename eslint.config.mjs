// ESLint over ui/src (run by `jlpm lint:check`, which `make lint` and so `make test` run).
// typescript-eslint's recommended rules, @jupyter/eslint-plugin's JupyterLab rules, curly and
// eqeqeq; formatting is prettier's alone (eslint-config-prettier turns the style rules off).
import js from '@eslint/js';
import jupyter from '@jupyter/eslint-plugin';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'lib/',
      'labextension/',
      'node_modules/',
      '.venv/',
      'test-artifacts/',
      '**/*.js',
      '**/*.mjs'
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...jupyter.configs.recommended,
  // before our rules: it turns `curly` off, which we want on (with prettier it is safe as 'all')
  prettier,
  {
    files: ['ui/src/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      curly: ['error', 'all'],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': ['error', { allow: ['error', 'warn'] }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }
      ],
      '@typescript-eslint/no-namespace': 'off', // JupyterLab's `namespace X { IOptions }` idiom
      // The extension is not translated (no ITranslator anywhere): its strings are English.
      'jupyter/no-untranslated-string': 'off',
      // Every module is needed as the sidebar appears at start: lazy chunks would only add
      // round trips (the whole extension is a few hundred kB).
      'jupyter/prefer-lazy-imports': 'off'
    }
  },
  {
    files: ['ui/src/**/__tests__/**'],
    languageOptions: { globals: { ...globals.node, ...globals.jest } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-require-imports': 'off'
    }
  }
);
