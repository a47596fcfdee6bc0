// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The dependency direction of docs/ARCHITECTURE.md, enforced per folder: each source folder
 * lists the project folders it may import. Everything else in the project is forbidden to it.
 */
const FOLDERS = [
  'lib',
  'schemas',
  'openflow',
  'ovsdb',
  'protocols',
  'datapath',
  'native',
  'ofproto',
  'vswitchd',
  'appctl',
  'api',
  'topo',
  'bin',
  'tools',
  'bench',
  'tests',
];
/** @type {Record<string, string[]>} folder -> folders it may import (besides itself) */
const ALLOWED = {
  lib: [],
  schemas: [],
  openflow: ['lib'],
  ovsdb: ['lib', 'schemas'],
  protocols: ['lib'],
  datapath: ['lib'],
  ofproto: ['lib', 'openflow', 'protocols', 'datapath'],
  appctl: ['lib'],
  vswitchd: [
    'lib',
    'schemas',
    'ovsdb',
    'openflow',
    'protocols',
    'ofproto',
    'datapath',
    'appctl',
    'api',
  ],
  api: ['lib', 'appctl', 'schemas'],
  topo: ['lib', 'ovsdb'],
};

/** @param {string} folder */
function restrictionsFor(folder) {
  const allowed = new Set([folder, ...(ALLOWED[folder] ?? [])]);
  const forbidden = FOLDERS.filter((f) => !allowed.has(f));
  return {
    files: [`${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidden.map((f) => ({
            group: [`../${f}/*`, `../../${f}/*`, `../../../${f}/*`, `../../../../${f}/*`],
            message: `${folder}/ may not import ${f}/ (see docs/ARCHITECTURE.md, dependency direction).`,
          })),
        },
      ],
    },
  };
}

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'var/**',
      'build/**',
      '.tap/**',
      'coverage/**',
      'native/build/**',
      '**/*.js',
      '**/*.cjs',
      '**/*.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowNullish: true },
      ],
    },
  },
  ...Object.keys(ALLOWED).map(restrictionsFor),
  {
    files: ['tests/**/*.ts', 'bench/**/*.ts', 'tools/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/require-await': 'off',
      // tap's top-level t.test() returns a promise that tap itself tracks.
      '@typescript-eslint/no-floating-promises': 'off',
    },
  },
);
