// Runs in every test file (jest `setupFilesAfterEnv`).
import { schemaViolations } from './ws-client';

afterEach(() => {
  // A frame that does not match docs/asyncapi.yaml fails the test that received it.
  const violations = schemaViolations.splice(0);
  expect(violations).toEqual([]);
});
