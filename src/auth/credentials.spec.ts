import type { IncomingMessage } from 'node:http';
import { extractCredential, redactUrl } from './credentials';

function request(headers: Record<string, string | undefined>, url = '/v1/ws'): IncomingMessage {
  return { headers, url } as unknown as IncomingMessage;
}

describe('extractCredential', () => {
  it('reads Authorization: Bearer, with a case-insensitive scheme and surrounding whitespace', () => {
    expect(extractCredential(request({ authorization: 'Bearer abc.def' }))).toEqual({ token: 'abc.def', source: 'header' });
    expect(extractCredential(request({ authorization: 'bearer abc' }))).toEqual({ token: 'abc', source: 'header' });
    expect(extractCredential(request({ authorization: 'BEARER   abc  ' }))).toEqual({ token: 'abc', source: 'header' });
  });

  it('reads a bearer.<token> subprotocol entry wherever it is in the list', () => {
    expect(extractCredential(request({ 'sec-websocket-protocol': 'chat.v1, bearer.abc' }))).toEqual({ token: 'abc', source: 'subprotocol' });
    expect(extractCredential(request({ 'sec-websocket-protocol': 'bearer.abc,chat.v1' }))).toEqual({ token: 'abc', source: 'subprotocol' });
    expect(extractCredential(request({ 'sec-websocket-protocol': '  chat.v1 ,  bearer.eyJ.x.y  ' }))).toEqual({ token: 'eyJ.x.y', source: 'subprotocol' });
  });

  it('reads the access_token query parameter, URL-decoded', () => {
    expect(extractCredential(request({}, '/v1/ws?access_token=abc'))).toEqual({ token: 'abc', source: 'query' });
    expect(extractCredential(request({}, '/v1/ws?x=1&access_token=a%2Bb%2Fc%3D%3D'))).toEqual({ token: 'a+b/c==', source: 'query' });
  });

  it('prefers header over subprotocol over query', () => {
    const all = { authorization: 'Bearer from-header', 'sec-websocket-protocol': 'chat.v1, bearer.from-subprotocol' };
    expect(extractCredential(request(all, '/v1/ws?access_token=from-query'))).toEqual({ token: 'from-header', source: 'header' });
    expect(extractCredential(request({ 'sec-websocket-protocol': all['sec-websocket-protocol'] }, '/v1/ws?access_token=from-query'))).toEqual({
      token: 'from-subprotocol',
      source: 'subprotocol',
    });
  });

  it('falls through a malformed or non-bearer Authorization header', () => {
    for (const authorization of ['Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'Bearerabc']) {
      expect(extractCredential(request({ authorization, 'sec-websocket-protocol': 'chat.v1, bearer.sub' }))).toEqual({ token: 'sub', source: 'subprotocol' });
      expect(extractCredential(request({ authorization }, '/v1/ws?access_token=q'))).toEqual({ token: 'q', source: 'query' });
    }
  });

  it('ignores empty tokens in every place', () => {
    expect(extractCredential(request({ authorization: 'Bearer ', 'sec-websocket-protocol': 'chat.v1, bearer.' }, '/v1/ws?access_token='))).toBeUndefined();
    expect(extractCredential(request({ 'sec-websocket-protocol': 'bearer., bearer.second' }))).toEqual({ token: 'second', source: 'subprotocol' });
    expect(extractCredential(request({}, '/v1/ws?access_token=&access_token=second'))).toEqual({ token: 'second', source: 'query' });
  });

  it('returns undefined when there is no credential', () => {
    expect(extractCredential(request({}))).toBeUndefined();
    expect(extractCredential(request({ 'sec-websocket-protocol': 'chat.v1' }, '/v1/ws?token=x'))).toBeUndefined();
    expect(extractCredential({ headers: {}, url: undefined } as unknown as IncomingMessage)).toBeUndefined();
  });
});

describe('redactUrl', () => {
  it('replaces the access_token value and keeps the rest', () => {
    expect(redactUrl('/v1/ws?access_token=secret-token')).toBe('/v1/ws?access_token=[redacted]');
    expect(redactUrl('/v1/ws?a=1&access_token=secret&b=2')).toBe('/v1/ws?a=1&access_token=[redacted]&b=2');
    expect(redactUrl('/v1/ws?access_token=one&access_token=two')).toBe('/v1/ws?access_token=[redacted]&access_token=[redacted]');
  });

  it('catches encoded and differently-cased parameter names', () => {
    expect(redactUrl('/v1/ws?access%5Ftoken=secret')).toBe('/v1/ws?access%5Ftoken=[redacted]');
    expect(redactUrl('/v1/ws?ACCESS_TOKEN=secret')).toBe('/v1/ws?ACCESS_TOKEN=[redacted]');
  });

  it('leaves URLs without a token alone', () => {
    expect(redactUrl('/v1/ws')).toBe('/v1/ws');
    expect(redactUrl('/v1/ws?x=access_token')).toBe('/v1/ws?x=access_token');
    expect(redactUrl('/v1/ws?my_access_token=1')).toBe('/v1/ws?my_access_token=1');
    expect(redactUrl(undefined)).toBe('');
  });

  it('never contains the token it redacted', () => {
    const url = '/v1/ws?access_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig#frag';
    expect(redactUrl(url)).toBe('/v1/ws?access_token=[redacted]#frag');
    expect(redactUrl(url)).not.toContain('eyJ');
  });
});
