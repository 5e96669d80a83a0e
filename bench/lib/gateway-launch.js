'use strict';
/** What every bench script needs to start a gateway the way production does, on a port of its own. */
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

/** The V8 flags the production image starts the gateway with: its Dockerfile's CMD, between `node` and the script. */
const GATEWAY_NODE_FLAGS = (() => {
  const cmds = [...fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^CMD\s+(\[.*\])\s*$/gm)];
  return cmds.length ? JSON.parse(cmds[cmds.length - 1][1]).slice(1, -1) : [];
})();

/**
 * The API key every bench client presents, and the principal it maps to (`AUTH_MODE=api_key`): the
 * gateways under test authenticate as production does, so per-anonymous-socket principals (each
 * with its own limit keys and quota renewals) never shape the load. The naive and bare relays
 * ignore the header.
 */
const BENCH_CLIENT_KEY = 'bench-client-0123456789abcdef';
const BENCH_AUTH_ENV = { AUTH_MODE: 'api_key', AUTH_API_KEYS: `bench:${BENCH_CLIENT_KEY}` };
const BENCH_CLIENT_HEADERS = { authorization: `Bearer ${BENCH_CLIENT_KEY}` };

/** A TCP port free on `host` right now. */
function freePort(host) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

module.exports = { GATEWAY_NODE_FLAGS, BENCH_AUTH_ENV, BENCH_CLIENT_HEADERS, freePort };
