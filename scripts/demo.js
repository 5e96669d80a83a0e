#!/usr/bin/env node
/**
 * Streams one chat completion through a running gateway and prints it token by token.
 *
 *   npm run demo -- "your prompt"        (or: node scripts/demo.js "your prompt")
 *
 * Environment:
 *   GATEWAY_URL    full WebSocket URL (default ws://localhost:${PORT:-8080}/v1/ws)
 *   GATEWAY_TOKEN  bearer token, when the gateway has auth enabled
 *   MODEL          model to ask for (default: the gateway's default model)
 *
 * The answer goes to stdout, everything else to stderr, so `npm run -s demo > answer.txt` works.
 * Ctrl-C cancels the stream (chat.cancel) and exits once the gateway confirms; a second Ctrl-C
 * exits at once. Exit status: 0 after chat.done (a cancelled one too), 1 on any error.
 */
'use strict';

const WebSocket = require('ws');

const DEFAULT_PROMPT = 'In a short paragraph, explain why streaming tokens makes a chat app feel faster.';
const REQUEST_ID = 'demo-1';
/** How long to wait for the close handshake before exiting anyway. */
const CLOSE_GRACE_MS = 1000;

const url = process.env.GATEWAY_URL || `ws://localhost:${process.env.PORT || 8080}/v1/ws`;
const prompt = process.argv.slice(2).join(' ').trim() || DEFAULT_PROMPT;
const token = process.env.GATEWAY_TOKEN;
const model = process.env.MODEL;

const headers = token ? { Authorization: `Bearer ${token}` } : {};
const ws = new WebSocket(url, ['chat.v1'], { headers, handshakeTimeout: 10_000 });

let requestSentAt = 0;
let firstChunkAt = 0;
let chunks = 0;
let wroteText = false;
let finished = false;
let cancelRequested = false;

const color = process.stderr.isTTY ? (code, text) => `\x1b[${code}m${text}\x1b[0m` : (_code, text) => text;
const info = (text) => process.stderr.write(`${color('2', text)}\n`);
const problem = (text) => process.stderr.write(`${color('31', text)}\n`);

/** Closes the socket politely, then exits with `code` (at once if the socket never opened). */
function finish(code) {
  if (finished) return;
  finished = true;
  if (wroteText) process.stdout.write('\n');
  if (ws.readyState === WebSocket.OPEN) {
    ws.once('close', () => process.exit(code));
    ws.close(1000, 'demo finished');
    setTimeout(() => process.exit(code), CLOSE_GRACE_MS).unref();
  } else {
    ws.terminate();
    process.exit(code);
  }
}

function send(frame) {
  ws.send(JSON.stringify(frame));
}

ws.on('open', () => info(`connected to ${url}`));

ws.on('message', (data, isBinary) => {
  if (isBinary) return;
  let frame;
  try {
    frame = JSON.parse(data.toString('utf8'));
  } catch {
    return problem(`gateway sent a frame that is not JSON: ${String(data).slice(0, 200)}`);
  }
  switch (frame.type) {
    case 'session.ready': {
      const request = { type: 'chat.request', id: REQUEST_ID, messages: [{ role: 'user', content: prompt }] };
      if (model) request.model = model;
      requestSentAt = performance.now();
      send(request);
      info(`> ${prompt}`);
      break;
    }
    case 'chat.started':
      info(`streaming from ${frame.model} (stream ${frame.stream_id})`);
      break;
    case 'chat.chunk': {
      chunks += 1;
      if (!firstChunkAt) firstChunkAt = performance.now();
      const content = frame.chunk?.choices?.[0]?.delta?.content;
      if (typeof content === 'string' && content !== '') {
        process.stdout.write(content);
        wroteText = true;
      }
      break;
    }
    case 'chat.done': {
      if (wroteText) {
        process.stdout.write('\n');
        wroteText = false;
      }
      const usage = frame.usage
        ? `usage ${frame.usage.prompt_tokens} prompt + ${frame.usage.completion_tokens} completion = ${frame.usage.total_tokens} tokens`
        : 'usage n/a';
      const ttfc = firstChunkAt ? `first chunk after ${Math.round(firstChunkAt - requestSentAt)} ms` : 'no chunks';
      const total = `${((performance.now() - requestSentAt) / 1000).toFixed(1)} s total`;
      info(`— finish_reason=${frame.finish_reason} · ${usage} · ${chunks} chunks · ${ttfc} · ${total}`);
      finish(0);
      break;
    }
    case 'chat.error':
    case 'error':
      if (wroteText) {
        process.stdout.write('\n');
        wroteText = false;
      }
      problem(`${frame.type} ${frame.code}: ${frame.message}${frame.retryable ? ' (retryable)' : ''}`);
      finish(1);
      break;
    case 'session.draining':
      info(`gateway is draining (reconnect after ${frame.reconnect_after_ms} ms); this demo does not resume`);
      break;
    default:
      break; // pong and anything newer: nothing to show
  }
});

ws.on('unexpected-response', (_req, res) => {
  problem(`the gateway refused the WebSocket upgrade: HTTP ${res.statusCode} ${res.statusMessage || ''}`.trim());
  if (res.statusCode === 403) problem('hint: is this Origin allowed?');
  if (res.statusCode === 404) problem(`hint: is ${url} the gateway's WebSocket path (/v1/ws)?`);
  res.resume();
  finished = true;
  process.exit(1);
});

ws.on('error', (error) => {
  if (finished) return;
  problem(`cannot connect to ${url}: ${error.code || error.message}`);
  if (error.code === 'ENOTFOUND') problem('hint: check the host name in GATEWAY_URL');
  else problem('hint: is the gateway running? start it with `npm start` (or set GATEWAY_URL / PORT)');
  finished = true;
  process.exit(1);
});

ws.on('close', (code, reason) => {
  if (finished) return;
  if (wroteText) process.stdout.write('\n');
  const why = reason.length ? `: ${reason.toString('utf8')}` : '';
  problem(`connection closed before the answer finished (close ${code}${why})`);
  if (code === 4401) problem('hint: the gateway requires a token: set GATEWAY_TOKEN');
  finished = true;
  process.exit(1);
});

process.on('SIGINT', () => {
  // First Ctrl-C: stop generation upstream (billing stops) and wait for chat.done "cancelled".
  if (!cancelRequested && requestSentAt && ws.readyState === WebSocket.OPEN) {
    cancelRequested = true;
    if (wroteText) {
      process.stdout.write('\n');
      wroteText = false;
    }
    info('cancelling… (Ctrl-C again to quit at once)');
    send({ type: 'chat.cancel', id: REQUEST_ID });
    return;
  }
  finished = true;
  ws.terminate();
  process.exit(130);
});

// A reader closing the pipe (`npm run demo | head`) is not an error worth a stack trace.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') finish(0);
});
