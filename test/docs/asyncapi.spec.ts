import { parseConfig } from '../../src/config/config.schema';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DiagnosticSeverity, Parser, type AsyncAPIDocumentInterface, type Diagnostic } from '@asyncapi/parser';
import { CLOSE_CODES, ERROR_CODES } from '@holysheep/protocol';
import { ASYNCAPI_PATH, loadFrameSchemas, validateClientFrame, validateServerFrame } from '../support/frame-schemas';
import { section, tableHeader, tableLines, tableRows } from '../support/markdown';

/**
 * docs/protocol.md is the wire contract in this repository's own words; docs/asyncapi.yaml must be
 * a valid AsyncAPI 3 document that says exactly what it says, and so must packages/protocol/ (the
 * implementation's tables): same frame types in the same directions, same fields, same error
 * codes with the same meanings, same close codes. docs/protocol.md's tables are parsed here, and
 * checked in turn against a hard-coded reading of protocol v1, so no file can drift unnoticed.
 */

const PROTOCOL_PATH = join(__dirname, '..', '..', 'docs', 'protocol.md');

/** The frame types of protocol v1 (and the additive `stream.list` pair), hard-coded as a second, independent reading. */
const CLIENT_TYPES = ['chat.request', 'chat.cancel', 'stream.resume', 'ping', 'stream.list', 'auth.refresh'];
const SERVER_TYPES = ['session.ready', 'chat.started', 'chat.chunk', 'chat.done', 'chat.error', 'error', 'pong', 'session.draining', 'stream.list.result', 'stream.complete', 'stream.overtaken', 'auth.refreshed'];

/** Fields each frame must carry: the contract's tables plus docs/protocol.md "Where the protocol is silent". */
const REQUIRED_FIELDS: Record<string, string[]> = {
  'chat.request': ['type', 'id', 'messages'],
  'chat.cancel': ['type', 'id'],
  'stream.resume': ['type', 'stream_id', 'after_seq'],
  ping: ['type'],
  'session.ready': ['type', 'session_id', 'protocol', 'heartbeat_interval_ms', 'limits'],
  'chat.started': ['type', 'id', 'stream_id', 'seq', 'model'],
  'chat.chunk': ['type', 'id', 'stream_id', 'seq', 'chunk'],
  'chat.done': ['type', 'id', 'stream_id', 'seq', 'finish_reason', 'usage'],
  // stream_id and seq only "when started"; the rest always.
  'chat.error': ['type', 'id', 'code', 'message', 'retryable'],
  error: ['type', 'code', 'message'],
  // `pong` carries `ts` only when the ping had one ("Where the protocol is silent").
  pong: ['type'],
  'session.draining': ['type', 'reconnect_after_ms'],
  'stream.list': ['type'],
  'stream.list.result': ['type', 'streams'],
  'stream.complete': ['type', 'id', 'stream_id', 'last_seq', 'state'],
  'stream.overtaken': ['type', 'id', 'stream_id', 'last_seq', 'kept_from'],
  'auth.refresh': ['type', 'token'],
  'auth.refreshed': ['type', 'expires_at', 'expires_in_ms'],
};

/** Every field protocol v1 lists per frame (nested names and enum values included), hard-coded. */
const CONTRACT_FIELDS: Record<string, string[]> = {
  'chat.request': [
    'id', 'model', 'messages', 'temperature', 'top_p', 'max_tokens', 'max_completion_tokens', 'stop',
    'presence_penalty', 'frequency_penalty', 'seed', 'tools', 'tool_choice', 'response_format', 'user',
  ],
  'chat.cancel': ['id'],
  'stream.resume': ['stream_id', 'after_seq', 'id'],
  ping: ['ts'],
  'session.ready': ['session_id', 'protocol', 'heartbeat_interval_ms', 'limits', 'max_frame_bytes', 'max_concurrent_streams'],
  'chat.started': ['id', 'stream_id', 'seq', 'model'],
  'chat.chunk': ['id', 'stream_id', 'seq', 'chunk'],
  'chat.done': ['id', 'stream_id', 'seq', 'finish_reason', 'stop', 'length', 'tool_calls', 'content_filter', 'cancelled', 'usage'],
  'chat.error': ['id', 'stream_id', 'seq', 'code', 'message', 'retryable', 'retry_after_ms'],
  error: ['code', 'message', 'id'],
  pong: ['ts'],
  'session.draining': ['reconnect_after_ms'],
  // Additive frames: every field is an extension (below).
  'stream.list': [],
  'stream.list.result': [],
  'stream.complete': [],
  'stream.overtaken': [],
  'auth.refresh': [],
  'auth.refreshed': [],
};

/** Fields docs/protocol.md adds to the contract's, as documented extensions ("Where the protocol is silent"). */
const DOCUMENTED_EXTENSIONS: Record<string, string[]> = {
  'chat.request': ['traceparent'],
  // Additive fields (a v1 client ignores fields it does not know).
  'session.ready': ['models', 'default', 'allowed', 'resume', 'enabled', 'grace_ms', 'retention_ms', 'expires_at', 'expires_in_ms'],
  'stream.list': ['id'],
  'stream.list.result': ['id', 'streams', 'stream_id', 'model', 'state', 'pending', 'streaming', 'done', 'failed', 'last_seq', 'started_at', 'partial'],
  'stream.complete': ['id', 'stream_id', 'last_seq', 'state', 'done', 'failed'],
  'stream.overtaken': ['id', 'stream_id', 'last_seq', 'kept_from'],
  // Issue 22.
  'auth.refresh': ['id', 'token'],
  'auth.refreshed': ['id', 'expires_at', 'expires_in_ms'],
};

/** The error codes and close codes of protocol v1, hard-coded. */
const CONTRACT_ERROR_CODES = [
  'bad_request', 'unknown_type', 'duplicate_id', 'too_many_streams', 'rate_limited', 'model_not_allowed', 'unauthorized', 'forbidden',
  'upstream_error', 'upstream_unavailable', 'upstream_timeout', 'upstream_disconnected', 'upstream_bad_response', 'stream_not_found',
  'shutting_down', 'internal_error',
];
const CONTRACT_CLOSE_CODES = [1000, 1009, 1011, 1012, 1013, 4001, 4002, 4008, 4401, 4403, 4429];
/** Codes a browser reports that the server never sends; docs/protocol.md tells clients what to do on them. */
const BROWSER_CLOSE_CODES = [1001, 1006];

// ------------------------------------------------------------------------------- docs/protocol.md

interface ErrorCodeRow {
  code: string;
  retryable: boolean;
  meaning: string;
  clientShould: string;
}

interface CloseCodeRow {
  code: number;
  /** The whole table row as written, `| code | when | client should |`. */
  row: string;
  clientShould: string;
}

interface ProtocolTables {
  client: Map<string, string[]>;
  server: Map<string, string[]>;
  errorCodes: ErrorCodeRow[];
  closeCodes: CloseCodeRow[];
  browserCloseCodes: CloseCodeRow[];
}

let protocolCache: ProtocolTables | undefined;

const PROTOCOL_FILE = 'docs/protocol.md';

/** Throws unless the first Markdown table in `text` has exactly these header cells. */
function expectHeader(text: string, expected: string[], what: string): void {
  const header = tableHeader(text);
  if (header.join('|') !== expected.join('|')) throw new Error(`${PROTOCOL_FILE}: the ${what} table's header is "${header.join(' | ')}", expected "${expected.join(' | ')}"`);
}

const backticked = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** type → field names mentioned in the "fields" column (the part before a `:` of `protocol: 1`). */
function frameTable(text: string): Map<string, string[]> {
  expectHeader(text, ['type', 'fields', 'meaning'], 'frame');
  const frames = new Map<string, string[]>();
  for (const [typeCell, fieldsCell] of tableRows(text)) {
    const [type] = backticked(typeCell ?? '');
    if (!type) throw new Error(`${PROTOCOL_FILE}: a frame table row without a backticked type: "${typeCell}"`);
    frames.set(
      type,
      backticked(fieldsCell ?? '').map((token) => token.split(':')[0]!.trim()),
    );
  }
  return frames;
}

function closeCodeTable(text: string): CloseCodeRow[] {
  expectHeader(text, ['code', 'when', 'client should'], 'close code');
  const lines = tableLines(text).slice(2);
  return tableRows(text).map(([code, , clientShould], index) => {
    if (!/^\d{4}$/.test(code ?? '')) throw new Error(`${PROTOCOL_FILE}: close code row with code "${code}"`);
    return { code: Number(code), row: lines[index]!, clientShould: clientShould ?? '' };
  });
}

function protocol(): ProtocolTables {
  if (protocolCache) return protocolCache;
  const markdown = readFileSync(PROTOCOL_PATH, 'utf8');
  const errorSection = section(markdown, '### Error codes (`code` field)', PROTOCOL_FILE);
  expectHeader(errorSection, ['code', 'retryable', 'meaning', 'client should'], 'error code');
  protocolCache = {
    client: frameTable(section(markdown, '### Client → server', PROTOCOL_FILE)),
    server: frameTable(section(markdown, '### Server → client', PROTOCOL_FILE)),
    errorCodes: tableRows(errorSection).map(([codeCell, retryable, meaning, clientShould]) => {
      const [code] = backticked(codeCell ?? '');
      if (!code || !/^[a-z_]+$/.test(code)) throw new Error(`${PROTOCOL_FILE}: error code row with code "${codeCell}"`);
      if (retryable !== 'yes' && retryable !== 'no') throw new Error(`${PROTOCOL_FILE}: ${code}: retryable must be yes or no, not "${retryable}"`);
      return { code, retryable: retryable === 'yes', meaning: meaning ?? '', clientShould: clientShould ?? '' };
    }),
    closeCodes: closeCodeTable(section(markdown, '### Close codes', PROTOCOL_FILE)),
    browserCloseCodes: closeCodeTable(section(markdown, '### Close codes the browser reports', PROTOCOL_FILE)),
  };
  return protocolCache;
}

// ------------------------------------------------------------------------------- the document

const documentText = readFileSync(ASYNCAPI_PATH, 'utf8');
let parsed: { document: AsyncAPIDocumentInterface | undefined; diagnostics: Diagnostic[] };

beforeAll(async () => {
  parsed = await new Parser().parse(documentText);
}, 30_000);

const sorted = <T>(values: Iterable<T>) => [...values].sort();

function messageTypes(document: AsyncAPIDocumentInterface, action: 'send' | 'receive'): string[] {
  const types = new Set<string>();
  for (const operation of document.operations().all()) {
    if (operation.action() !== action) continue;
    for (const message of operation.messages().all()) types.add(message.payload()?.properties()?.type?.const());
  }
  return sorted(types);
}

describe('docs/asyncapi.yaml', () => {
  it('reads the contract from docs/protocol.md, inside the repository', () => {
    expect(PROTOCOL_PATH.startsWith(join(__dirname, '..', '..'))).toBe(true);
    const tables = protocol();
    expect(sorted(tables.client.keys())).toEqual(sorted(CLIENT_TYPES));
    expect(sorted(tables.server.keys())).toEqual(sorted(SERVER_TYPES));
    expect(tables.errorCodes.length).toBeGreaterThan(0);
    expect(tables.closeCodes.length).toBeGreaterThan(0);
  });

  it('docs/protocol.md lists every field, error code and close code of protocol v1, and nothing else', () => {
    const tables = protocol();
    for (const table of [tables.client, tables.server]) {
      for (const [type, fields] of table) {
        expect({ type, fields: sorted(new Set(fields)) }).toEqual({ type, fields: sorted([...CONTRACT_FIELDS[type]!, ...(DOCUMENTED_EXTENSIONS[type] ?? [])]) });
      }
    }
    expect(tables.errorCodes.map((row) => row.code)).toEqual(CONTRACT_ERROR_CODES);
    expect(tables.closeCodes.map((row) => row.code)).toEqual(CONTRACT_CLOSE_CODES);
  });

  it('docs/protocol.md tells a client what to do on every error code and every close code, 1001 and 1006 included', () => {
    const tables = protocol();
    for (const { code, clientShould } of tables.errorCodes) expect({ code, clientShould: clientShould.length > 3 }).toEqual({ code, clientShould: true });
    for (const { code, clientShould } of [...tables.closeCodes, ...tables.browserCloseCodes]) {
      expect({ code, clientShould: clientShould.length > 0 }).toEqual({ code, clientShould: true });
    }
    expect(tables.browserCloseCodes.map((row) => row.code)).toEqual(BROWSER_CLOSE_CODES);
    // The server never sends those: they are not in its close codes.
    const sent = Object.values(CLOSE_CODES).map((c) => c.code as number);
    for (const code of BROWSER_CLOSE_CODES) expect(sent).not.toContain(code);
    for (const row of tables.browserCloseCodes) expect(row.clientShould).toMatch(/reconnect/);
  });

  it('docs/protocol.md links no file outside the repository', () => {
    const markdown = readFileSync(PROTOCOL_PATH, 'utf8');
    const targets = [...markdown.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!).filter((target) => !/^(https?:|#)/.test(target));
    for (const target of targets) {
      expect({ target, inside: join(PROTOCOL_PATH, '..', target).startsWith(join(__dirname, '..', '..')) }).toEqual({ target, inside: true });
    }
    expect(markdown).not.toMatch(/\.\.\/shared|PROTOCOL\.md/);
  });

  it('is a valid AsyncAPI 3.0.0 document (no error-severity diagnostics)', async () => {
    const errors = parsed.diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
    expect(errors.map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`)).toEqual([]);
    expect(parsed.document).toBeDefined();
    expect(parsed.document!.version()).toBe('3.0.0');
    // validate() is the same check without building a document.
    const diagnostics = await new Parser().validate(documentText);
    expect(diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error)).toEqual([]);
  });

  it('describes the one /v1/ws channel on a ws server at the default port with the three credential placements', () => {
    const document = parsed.document!;
    const channels = document.channels().all();
    expect(channels.map((c) => c.address())).toEqual(['/v1/ws']);
    const [server] = document.servers().all();
    expect(server?.protocol()).toBe('ws');
    expect(server?.host()).toBe(`localhost:${parseConfig({}).http.port}`);
    const schemes = server!.security().map((requirements) => requirements.all().map((r) => r.scheme().json()));
    expect(schemes.flat()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'http', scheme: 'bearer' }),
        expect.objectContaining({ type: 'httpApiKey', in: 'header', name: 'Sec-WebSocket-Protocol' }),
        expect.objectContaining({ type: 'httpApiKey', in: 'query', name: 'access_token' }),
      ]),
    );
  });

  it('defines exactly the 18 frame types of docs/protocol.md, each in its direction', () => {
    const document = parsed.document!;
    const receive = messageTypes(document, 'receive');
    const send = messageTypes(document, 'send');
    expect(receive).toEqual(sorted(CLIENT_TYPES));
    expect(send).toEqual(sorted(SERVER_TYPES));
    expect(receive).toEqual(sorted(protocol().client.keys()));
    expect(send).toEqual(sorted(protocol().server.keys()));
    // And the document's message list holds nothing else.
    const all = document.allMessages().all().map((m) => m.payload()?.properties()?.type?.const());
    expect(sorted(all)).toEqual(sorted([...CLIENT_TYPES, ...SERVER_TYPES]));
    for (const message of document.allMessages().all()) {
      expect(message.name()).toBe(message.payload()?.properties()?.type?.const());
    }
  });

  it('requires exactly the fields docs/protocol.md (its tables and its decisions) makes mandatory', () => {
    const { client, server } = loadFrameSchemas();
    for (const [type, schema] of [...client, ...server]) {
      expect({ type, required: sorted(schema.required as string[]) }).toEqual({ type, required: sorted(REQUIRED_FIELDS[type]!) });
      expect({ type, typeIsConst: (schema.properties as any).type }).toEqual({ type, typeIsConst: { const: type } });
    }
  });

  it('names every field docs/protocol.md lists for a frame, and has no field docs/protocol.md does not list', () => {
    const { client, server } = loadFrameSchemas();
    const namesIn = (schema: unknown, out = new Set<string>()): Set<string> => {
      if (Array.isArray(schema)) schema.forEach((s) => namesIn(s, out));
      else if (schema && typeof schema === 'object') {
        for (const [key, value] of Object.entries(schema)) {
          if (key === 'properties' && value && typeof value === 'object') Object.keys(value).forEach((name) => out.add(name));
          if (key === 'enum' && Array.isArray(value)) value.forEach((v) => out.add(String(v)));
          namesIn(value, out);
        }
      }
      return out;
    };
    const tables = protocol();
    for (const [direction, schemas, table] of [
      ['client', client, tables.client],
      ['server', server, tables.server],
    ] as const) {
      for (const [type, fields] of table) {
        const schema = schemas.get(type)!;
        const names = namesIn(schema);
        expect({ type, missing: fields.filter((f) => !names.has(f)) }).toEqual({ type, missing: [] });
        const topLevel = Object.keys(schema.properties as object).filter((name) => name !== 'type');
        const allowed = new Set(fields);
        expect({ direction, type, undocumented: topLevel.filter((name) => !allowed.has(name)) }).toEqual({ direction, type, undocumented: [] });
      }
    }
  });

  it('forbids unknown fields on server frames and ignores them on client frames', () => {
    const { client, server } = loadFrameSchemas();
    for (const [type, schema] of server) expect({ type, additionalProperties: schema.additionalProperties }).toEqual({ type, additionalProperties: false });
    for (const [type, schema] of client) expect({ type, additionalProperties: schema.additionalProperties }).toEqual({ type, additionalProperties: true });
    // The relayed upstream chunk is the exception: relayed unchanged.
    const chunk = (server.get('chat.chunk')!.properties as any).chunk;
    expect(chunk.additionalProperties).toBe(true);
    expect(chunk.required).toContain('choices');
    expect(chunk.properties.choices.type).toBe('array');
  });

  it('has an ErrorCode enum equal to packages/protocol/src/error-codes.ts, with every meaning described', () => {
    const errorCode = parsed.document!.components().schemas().get('ErrorCode')!;
    expect(errorCode.enum()).toEqual(Object.keys(ERROR_CODES));
    const description = errorCode.description()!;
    for (const [code, { meaning, retryable }] of Object.entries(ERROR_CODES)) {
      expect(description).toContain(`| \`${code}\` | ${retryable ? 'yes' : 'no'} | ${meaning} |`);
    }
  });

  it('uses the ErrorCode schema for every `code` field', () => {
    const { server } = loadFrameSchemas();
    const errorCodeEnum = Object.keys(ERROR_CODES);
    for (const type of ['chat.error', 'error']) {
      expect((server.get(type)!.properties as any).code.enum).toEqual(errorCodeEnum);
    }
  });

  it('has error codes equal to docs/protocol.md, with the same retryable default and meaning as packages/protocol/src/error-codes.ts', () => {
    const rows = protocol().errorCodes;
    expect(sorted(rows.map((row) => row.code))).toEqual(sorted(Object.keys(ERROR_CODES)));
    for (const { code, retryable, meaning } of rows) {
      const source = ERROR_CODES[code as keyof typeof ERROR_CODES];
      expect({ code, retryable, meaning }).toEqual({ code, retryable: source.retryable, meaning: source.meaning });
    }
  });

  it('has a CloseCode enum equal to packages/protocol/src/close-codes.ts and docs/protocol.md, documented with when / what to do', () => {
    const closeCode = parsed.document!.components().schemas().get('CloseCode')!;
    const codes = Object.values(CLOSE_CODES).map((c) => c.code);
    expect(closeCode.enum()).toEqual(codes);
    const documented = protocol().closeCodes;
    expect(sorted(documented.map((row) => row.code))).toEqual(sorted(codes));
    const channelDescription = parsed.document!.channels().all()[0]!.description()!;
    const rowOf = (text: string, code: number) => text.split('\n').map((line) => line.trim()).find((line) => line.startsWith(`| ${code} |`));
    for (const { code, row } of documented) {
      // The same row, | code | when | client should |, word for word in both tables of the document.
      expect(row).toMatch(new RegExp(`^\\| ${code} \\| [^|]+ \\| [^|]+ \\|$`));
      expect({ code, inCloseCode: rowOf(closeCode.description()!, code) }).toEqual({ code, inCloseCode: row });
      expect({ code, inChannel: rowOf(channelDescription, code) }).toEqual({ code, inChannel: row });
    }
  });

  it('has finish_reason values equal to docs/protocol.md', () => {
    const { server } = loadFrameSchemas();
    expect(sorted((server.get('chat.done')!.properties as any).finish_reason.enum)).toEqual(
      sorted(['stop', 'length', 'tool_calls', 'content_filter', 'cancelled']),
    );
  });

  it('explains seq, the one terminal frame and resume', () => {
    const description = parsed.document!.info().description()!;
    expect(description).toMatch(/`seq`/);
    expect(description).toMatch(/exactly \*\*one terminal frame\*\*/);
    expect(description).toMatch(/## Resume/);
    expect(description).toMatch(/stream\.resume/);
  });

  it('has examples for every message, each valid against its own payload schema', () => {
    const { client, server } = loadFrameSchemas();
    for (const message of parsed.document!.allMessages().all()) {
      const type = message.payload()?.properties()?.type?.const() as string;
      const examples = message.examples().all();
      expect({ type, examples: examples.length > 0 }).toEqual({ type, examples: true });
      for (const example of examples) {
        const problems = client.has(type) ? validateClientFrame(example.payload()) : validateServerFrame(example.payload());
        expect({ type, example: example.name(), problems }).toEqual({ type, example: example.name(), problems: [] });
      }
      expect(client.has(type) || server.has(type)).toBe(true);
    }
  });
});
