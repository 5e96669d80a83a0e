/** @type {import('jest').Config} */
module.exports = {
  rootDir: '.',
  moduleFileExtensions: ['js', 'json', 'ts'],
  testRegex: '.*\\.(spec|e2e-spec)\\.ts$',
  // Type errors are caught by `npm run typecheck` (part of `npm test`); jest only transpiles.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test', '<rootDir>/packages'],
  // The workspace packages' sources, as tsconfig.json's paths: no build needed to test against them.
  moduleNameMapper: {
    '^@holysheep/protocol$': '<rootDir>/packages/protocol/src',
    '^@holysheep/stream-client$': '<rootDir>/packages/client/src',
  },
  modulePathIgnorePatterns: ['<rootDir>/packages/[^/]+/dist/'],
  setupFilesAfterEnv: ['<rootDir>/test/support/jest-setup.ts'],
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  // e2e suites boot real servers; a hang must fail the run, not stall CI.
  testTimeout: 20000,
};
