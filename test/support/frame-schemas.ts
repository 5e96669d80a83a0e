import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';

/**
 * Validates frames against the payload schemas of docs/asyncapi.yaml, so every test that looks at
 * a frame also checks the published protocol documentation: a frame the docs do not describe, or a
 * doc that does not describe what the server sends, fails the test.
 *
 * The document is read synchronously and its schemas compiled once, on first use. `$ref`s are
 * local JSON pointers (`#/components/...`) and are inlined here, so AJV sees self-contained
 * draft-07 schemas. Which frames go which way comes from the document's operations: `receive`
 * (the gateway receives) = client → server, `send` = server → client.
 */

export const ASYNCAPI_PATH = join(__dirname, '..', '..', 'docs', 'asyncapi.yaml');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface FrameSchemas {
  /** The parsed YAML document, `$ref`s not resolved. */
  document: JsonObject;
  /** Frame `type` → dereferenced payload schema, per direction. */
  client: Map<string, JsonObject>;
  server: Map<string, JsonObject>;
}

interface Compiled extends FrameSchemas {
  clientValidators: Map<string, ValidateFunction>;
  serverValidators: Map<string, ValidateFunction>;
  /** `chat.delta` (`{"t":"d",…}`, issue 23): not a v1 message, its type is in `t`; components/schemas/ChatDeltaFrame. */
  deltaValidator: ValidateFunction;
}

let compiled: Compiled | undefined;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Resolves a local JSON pointer (`#/a/b~1c`) in `root`. */
function resolvePointer(root: JsonObject, ref: string): Json {
  if (!ref.startsWith('#/')) throw new Error(`asyncapi.yaml: only local $refs are supported, got "${ref}"`);
  let node: Json = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(node) || !Object.prototype.hasOwnProperty.call(node, key)) throw new Error(`asyncapi.yaml: unresolvable $ref "${ref}"`);
    node = node[key]!;
  }
  return node;
}

/** A deep copy of `node` with every `$ref` replaced by (a dereferenced copy of) its target. */
function dereference(root: JsonObject, node: Json, seen: readonly string[] = []): Json {
  if (Array.isArray(node)) return node.map((item) => dereference(root, item, seen));
  if (!isObject(node)) return node;
  const ref = node.$ref;
  if (typeof ref === 'string') {
    if (seen.includes(ref)) throw new Error(`asyncapi.yaml: circular $ref "${ref}" (${seen.join(' → ')})`);
    return dereference(root, resolvePointer(root, ref), [...seen, ref]);
  }
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) out[key] = dereference(root, value, seen);
  return out;
}

let loaded: FrameSchemas | undefined;

/**
 * Reads docs/asyncapi.yaml (once; the result is shared, do not mutate it) and returns each
 * frame's dereferenced payload schema, by direction.
 */
export function loadFrameSchemas(): FrameSchemas {
  loaded ??= readFrameSchemas(ASYNCAPI_PATH);
  return loaded;
}

function readFrameSchemas(path: string): FrameSchemas {
  const document = parseYaml(readFileSync(path, 'utf8')) as unknown;
  if (!isObject(document)) throw new Error(`${path}: not a YAML mapping`);
  const operations = document.operations;
  if (!isObject(operations)) throw new Error(`${path}: no operations`);
  const client = new Map<string, JsonObject>();
  const server = new Map<string, JsonObject>();
  for (const [operationId, operation] of Object.entries(operations)) {
    if (!isObject(operation) || (operation.action !== 'send' && operation.action !== 'receive')) {
      throw new Error(`${path}: operation ${operationId} has no action send/receive`);
    }
    const target = operation.action === 'receive' ? client : server;
    const messages = operation.messages;
    if (!Array.isArray(messages) || messages.length === 0) throw new Error(`${path}: operation ${operationId} lists no messages`);
    for (const messageRef of messages) {
      const message = dereference(document, messageRef);
      if (!isObject(message) || !isObject(message.payload)) throw new Error(`${path}: operation ${operationId}: a message without a payload`);
      const payload = message.payload;
      const type = isObject(payload.properties) && isObject(payload.properties.type) ? payload.properties.type.const : undefined;
      if (typeof type !== 'string') throw new Error(`${path}: operation ${operationId}: payload has no "type" const`);
      const existing = target.get(type);
      if (existing && JSON.stringify(existing) !== JSON.stringify(payload)) {
        throw new Error(`${path}: two different payload schemas for "${type}"`);
      }
      target.set(type, payload);
    }
  }
  return { document, client, server };
}

function compile(): Compiled {
  if (compiled) return compiled;
  const schemas = loadFrameSchemas();
  // strict: an unknown keyword or a typo in the document is an error, not a silently ignored rule.
  // strictRequired is off: `if: { not: { required: [seq] } }` names a property it does not define.
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, strictTypes: false, allowUnionTypes: true });
  const compileAll = (map: Map<string, JsonObject>) => {
    const validators = new Map<string, ValidateFunction>();
    for (const [type, schema] of map) {
      try {
        validators.set(type, ajv.compile(schema));
      } catch (error) {
        throw new Error(`asyncapi.yaml: payload schema of "${type}" does not compile: ${(error as Error).message}`);
      }
    }
    return validators;
  };
  const delta = dereference(schemas.document, { $ref: '#/components/schemas/ChatDeltaFrame' }) as JsonObject;
  compiled = { ...schemas, clientValidators: compileAll(schemas.client), serverValidators: compileAll(schemas.server), deltaValidator: ajv.compile(delta) };
  return compiled;
}

function describe(error: ErrorObject): string {
  const at = error.instancePath || '(frame)';
  switch (error.keyword) {
    case 'additionalProperties':
      return `${at}: unexpected field "${(error.params as { additionalProperty: string }).additionalProperty}"`;
    case 'const':
      return `${at}: must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
    case 'enum':
      return `${at}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${at}: ${error.message ?? error.keyword}`;
  }
}

function validate(frame: unknown, validators: Map<string, ValidateFunction>, direction: string): string[] {
  if (!isObject(frame)) return [`${direction} frame must be a JSON object, got ${Array.isArray(frame) ? 'an array' : frame === null ? 'null' : typeof frame}`];
  const type = frame.type;
  if (typeof type !== 'string') return [`${direction} frame has no string field "type"`];
  const validator = validators.get(type);
  if (!validator) return [`unknown ${direction} frame type "${type}" (known: ${[...validators.keys()].join(', ')})`];
  if (validator(frame)) return [];
  // `if`/`then` failures come with the specific error of the `then` branch; the generic
  // "must match then schema" adds nothing.
  const errors = (validator.errors ?? []).filter((e) => e.keyword !== 'if');
  return [...new Set(errors.map((e) => `${type} ${describe(e)}`))];
}

/** Problems with a server → client frame per docs/asyncapi.yaml; empty = valid. */
export function validateServerFrame(frame: unknown): string[] {
  if (isObject(frame) && frame.t === 'd') {
    const { deltaValidator } = compile();
    return deltaValidator(frame) ? [] : (deltaValidator.errors ?? []).map((e) => `chat.delta ${describe(e)}`);
  }
  return validate(frame, compile().serverValidators, 'server');
}

/** Problems with a client → server frame per docs/asyncapi.yaml; empty = valid. */
export function validateClientFrame(frame: unknown): string[] {
  return validate(frame, compile().clientValidators, 'client');
}

/** Throws (with the frame and every problem) when a server frame does not match the docs. */
export function assertServerFrame(frame: unknown): void {
  const problems = validateServerFrame(frame);
  if (problems.length > 0) throw new Error(`frame does not match docs/asyncapi.yaml: ${problems.join('; ')}\nframe: ${JSON.stringify(frame)}`);
}

/** The frame types the document defines, per direction. */
export function documentedFrameTypes(): { client: string[]; server: string[] } {
  const { client, server } = compile();
  return { client: [...client.keys()], server: [...server.keys()] };
}
