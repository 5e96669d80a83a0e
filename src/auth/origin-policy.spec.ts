import { isOriginAllowed } from './origin-policy';

describe('isOriginAllowed', () => {
  const allowed = ['https://app.example.com', 'http://localhost:5173/', 'https://*.example.org'];

  it('allows requests without an Origin (non-browser clients)', () => {
    expect(isOriginAllowed(undefined, allowed)).toBe(true);
    expect(isOriginAllowed('', allowed)).toBe(true);
  });

  it('allows everything with *', () => {
    expect(isOriginAllowed('https://anything.test', ['*'])).toBe(true);
    expect(isOriginAllowed('null', ['*'])).toBe(true);
  });

  it('matches exact origins after normalisation', () => {
    expect(isOriginAllowed('https://app.example.com', allowed)).toBe(true);
    expect(isOriginAllowed('HTTPS://APP.Example.COM', allowed)).toBe(true);
    expect(isOriginAllowed('https://app.example.com:443', allowed)).toBe(true);
    expect(isOriginAllowed('http://localhost:5173', allowed)).toBe(true);
    expect(isOriginAllowed('https://app.example.com', ['https://app.example.com:443/'])).toBe(true);
    expect(isOriginAllowed('http://a.test', ['http://a.test:80'])).toBe(true);
  });

  it('refuses a different scheme, host or port', () => {
    expect(isOriginAllowed('http://app.example.com', allowed)).toBe(false);
    expect(isOriginAllowed('https://app.example.com:8443', allowed)).toBe(false);
    expect(isOriginAllowed('http://localhost:3001', allowed)).toBe(false);
    expect(isOriginAllowed('http://localhost', allowed)).toBe(false);
    expect(isOriginAllowed('https://other.example.com', allowed)).toBe(false);
  });

  it('refuses lookalike domains', () => {
    expect(isOriginAllowed('https://app.example.com.evil.test', allowed)).toBe(false);
    expect(isOriginAllowed('https://evilapp.example.com', allowed)).toBe(false);
    expect(isOriginAllowed('https://app-example.com', allowed)).toBe(false);
  });

  it('matches wildcard entries on any sub-domain, but not the bare domain or lookalikes', () => {
    expect(isOriginAllowed('https://a.example.org', allowed)).toBe(true);
    expect(isOriginAllowed('https://a.b.example.org', allowed)).toBe(true);
    expect(isOriginAllowed('https://A.Example.ORG', allowed)).toBe(true);
    expect(isOriginAllowed('https://example.org', allowed)).toBe(false);
    expect(isOriginAllowed('https://evil-example.org', allowed)).toBe(false);
    expect(isOriginAllowed('https://evilexample.org', allowed)).toBe(false);
    expect(isOriginAllowed('https://a.example.org.evil.test', allowed)).toBe(false);
    expect(isOriginAllowed('http://a.example.org', allowed)).toBe(false);
    expect(isOriginAllowed('https://a.example.org:8443', allowed)).toBe(false);
  });

  it('matches wildcard entries with an explicit port', () => {
    expect(isOriginAllowed('https://a.example.org:8443', ['https://*.example.org:8443'])).toBe(true);
    expect(isOriginAllowed('https://a.example.org', ['https://*.example.org:8443'])).toBe(false);
    expect(isOriginAllowed('https://a.example.org', ['https://*.example.org:443'])).toBe(true);
  });

  it('allows the null origin only by * or an explicit null entry', () => {
    expect(isOriginAllowed('null', allowed)).toBe(false);
    expect(isOriginAllowed('null', [...allowed, 'null'])).toBe(true);
  });

  it('refuses malformed origins', () => {
    expect(isOriginAllowed('not a url', allowed)).toBe(false);
    expect(isOriginAllowed('https://app.example.com/path', allowed)).toBe(false);
    expect(isOriginAllowed('https://user@app.example.com', allowed)).toBe(false);
    expect(isOriginAllowed('file://', allowed)).toBe(false);
  });

  it('refuses everything but absent origins with an empty allow-list', () => {
    expect(isOriginAllowed('https://app.example.com', [])).toBe(false);
    expect(isOriginAllowed(undefined, [])).toBe(true);
  });
});
