/** @type {import('jest').Config} */
module.exports = {
  rootDir: '.',
  moduleFileExtensions: ['js', 'json', 'ts'],
  testRegex: '.*\\.(spec|e2e-spec)\\.ts$',
  // Type errors are caught by `npm run typecheck` (part of `npm test`); jest only transpiles.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test', '<rootDir>/client/test'],
  setupFilesAfterEnv: ['<rootDir>/test/support/jest-setup.ts'],
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  // e2e suites boot real servers; a hang must fail the run, not stall CI.
  testTimeout: 20000,
};
