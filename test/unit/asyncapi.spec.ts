import { parseConfig } from '../../src/config/config.schema';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DiagnosticSeverity, Parser, type AsyncAPIDocumentInterface, type Diagnostic } from '@asyncapi/parser';
import { CLOSE_CODES } from '../../src/protocol/close-codes';
import { ERROR_CODES } from '../../src/protocol/error-codes';
import { ASYNCAPI_PATH, loadFrameSchemas, validateClientFrame, validateServerFrame } from '../support/frame-schemas';

/**
 * docs/asyncapi.yaml must be a valid AsyncAPI 3 document and must say exactly what PROTOCOL.md
 * (the contract) and src/protocol/ (the implementation's tables) say: same frame types in the
 * same directions, same error codes, same close codes. PROTOCOL.md is read from the shared
 * checkout beside the repo, so the docs cannot drift from the contract unnoticed.
 */

const PROTOCOL_PATH = join(__dirname, '..', '..', '..', 'shared', 'PROTOCOL.md');

/** The frame types of PROTOCOL.md, hard-coded as a second, independent reading. */
const CLIENT_TYPES = ['chat.request', 'chat.cancel', 'stream.resume', 'ping'];
const SERVER_TYPES = ['session.ready', 'chat.started', 'chat.chunk', 'chat.done', 'chat.error', 'error', 'pong', 'session.draining'];

/** Fields each frame must carry: PROTOCOL.md's tables plus README "Where the protocol is silent". */
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
  // `pong` carries `ts` only when the ping had one (README).
  pong: ['type'],
  'session.draining': ['type', 'reconnect_after_ms'],
};

/** Client fields the docs add to PROTOCOL.md's (README decisions). */
const DOCUMENTED_CLIENT_EXTRAS: Record<string, string[]> = { 'chat.request': ['traceparent'] };

// ------------------------------------------------------------------------------- PROTOCOL.md

interface ProtocolTables {
  client: Map<string, string[]>;
  server: Map<string, string[]>;
  errorCodes: string[];
  closeCodes: number[];
}

let protocolCache: ProtocolTables | undefined;

/** The text under `heading` up to the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string {
  const lines = markdown.split(/\r?\n/);
  const start = lines.findIndex((line) => line.trim() === heading);
  if (start < 0) throw new Error(`PROTOCOL.md: heading "${heading}" not found (did its structure change?)`);
  const level = /^#+/.exec(heading)![0].length;
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((line) => {
    const m = /^(#+)\s/.exec(line);
    return m !== null && m[1]!.length <= level;
  });
  return (end < 0 ? rest : rest.slice(0, end)).join('\n');
}

/** Body rows of the first Markdown table in `text`, as trimmed cells. */
function tableRows(text: string): string[][] {
  const rows = text
    .split('\n')
    .filter((line) => line.trim().startsWith('|'))
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, '')
        .split('|')
        .map((cell) => cell.trim()),
    );
  // header, separator, body
  return rows.slice(2);
}

const backticked = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** type → field names mentioned in the "fields" column (the part before a `:` of `protocol: 1`). */
function frameTable(text: string): Map<string, string[]> {
  const frames = new Map<string, string[]>();
  for (const [typeCell, fieldsCell] of tableRows(text)) {
    const [type] = backticked(typeCell ?? '');
    if (!type) throw new Error(`PROTOCOL.md: a frame table row without a backticked type: "${typeCell}"`);
    frames.set(
      type,
      backticked(fieldsCell ?? '').map((token) => token.split(':')[0]!.trim()),
    );
  }
  return frames;
}

function protocol(): ProtocolTables {
  if (protocolCache) return protocolCache;
  if (!existsSync(PROTOCOL_PATH)) {
    throw new Error(
      `PROTOCOL.md not found at ${PROTOCOL_PATH}. docs/asyncapi.yaml is checked against the shared wire contract, ` +
        'which must be checked out beside this repository (../shared/PROTOCOL.md).',
    );
  }
  const markdown = readFileSync(PROTOCOL_PATH, 'utf8');
  const errorSection = section(markdown, '### Error codes (`code` field)');
  // The list ends where the sentence about `message` begins.
  const errorList = errorSection.split('`message` is')[0]!;
  protocolCache = {
    client: frameTable(section(markdown, '### Client → server')),
    server: frameTable(section(markdown, '### Server → client')),
    errorCodes: backticked(errorList).filter((token) => /^[a-z_]+$/.test(token)),
    closeCodes: tableRows(section(markdown, '### Close codes')).map(([code]) => {
      if (!/^\d{4}$/.test(code ?? '')) throw new Error(`PROTOCOL.md: close code row with code "${code}"`);
      return Number(code);
    }),
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
  it('reads the shared contract ../shared/PROTOCOL.md', () => {
    const tables = protocol();
    expect(sorted(tables.client.keys())).toEqual(sorted(CLIENT_TYPES));
    expect(sorted(tables.server.keys())).toEqual(sorted(SERVER_TYPES));
    expect(tables.errorCodes.length).toBeGreaterThan(0);
    expect(tables.closeCodes.length).toBeGreaterThan(0);
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

  it('defines exactly the 12 frame types of PROTOCOL.md, each in its direction', () => {
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

  it('requires exactly the fields PROTOCOL.md (and the README decisions) make mandatory', () => {
    const { client, server } = loadFrameSchemas();
    for (const [type, schema] of [...client, ...server]) {
      expect({ type, required: sorted(schema.required as string[]) }).toEqual({ type, required: sorted(REQUIRED_FIELDS[type]!) });
      expect({ type, typeIsConst: (schema.properties as any).type }).toEqual({ type, typeIsConst: { const: type } });
    }
  });

  it('names every field PROTOCOL.md lists for a frame, and a server frame has no field PROTOCOL.md does not list', () => {
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
        const allowed = new Set([...fields, ...(DOCUMENTED_CLIENT_EXTRAS[type] ?? [])]);
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

  it('has an ErrorCode enum equal to src/protocol/error-codes.ts, with every meaning described', () => {
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

  it('has error codes equal to PROTOCOL.md', () => {
    expect(sorted(protocol().errorCodes)).toEqual(sorted(Object.keys(ERROR_CODES)));
  });

  it('has a CloseCode enum equal to src/protocol/close-codes.ts and PROTOCOL.md, documented with when / what to do', () => {
    const closeCode = parsed.document!.components().schemas().get('CloseCode')!;
    const codes = Object.values(CLOSE_CODES).map((c) => c.code);
    expect(closeCode.enum()).toEqual(codes);
    expect(sorted(protocol().closeCodes)).toEqual(sorted(codes));
    const channelDescription = parsed.document!.channels().all()[0]!.description()!;
    for (const code of codes) {
      // A table row: | code | when | client should |
      const row = new RegExp(`^\\| ${code} \\| [^|]+ \\| [^|]+ \\|$`, 'm');
      expect({ code, inCloseCode: row.test(closeCode.description()!) }).toEqual({ code, inCloseCode: true });
      expect({ code, inChannel: row.test(channelDescription) }).toEqual({ code, inChannel: true });
    }
  });

  it('has finish_reason values equal to PROTOCOL.md', () => {
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
