import { hasCommand, requireTool } from './requirements';

describe('requireTool (tests that need a tool outside npm)', () => {
  const ENV = 'REQUIRE_SOMETHING_FOR_THIS_SPEC';
  let warn: jest.SpyInstance;

  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    warn.mockRestore();
    delete process.env[ENV];
  });

  it('runs the check when the tool is there, whatever the variable says', () => {
    expect(requireTool('thing', true, ENV)).toBe(true);
    process.env[ENV] = '1';
    expect(requireTool('thing', true, ENV)).toBe(true);
    expect(warn).not.toHaveBeenCalled();
  });

  it('skips loudly when the tool is missing and not required', () => {
    expect(requireTool('thing', false, ENV)).toBe(false);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(new RegExp(`^SKIPPED: thing is not available.*${ENV}=1`));
  });

  it('fails when the tool is missing and its variable is 1', () => {
    process.env[ENV] = '1';
    expect(() => requireTool('thing', false, ENV)).toThrow(`thing is not available, and ${ENV}=1 requires it`);
    expect(warn).not.toHaveBeenCalled();
  });

  it('hasCommand tells a runnable command from a missing one', () => {
    expect(hasCommand(process.execPath)).toBe(true);
    expect(hasCommand('holysheep-no-such-command-on-any-path')).toBe(false);
  });
});
