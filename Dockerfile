# HolySheep stream gateway — production image.
#
#   docker build -t holysheep-stream-gateway .
#   docker run --rm -p 8080:8080 -e HOLYSHEEP_API_KEY=... -e AUTH_MODE=jwt -e AUTH_JWT_SECRET=... holysheep-stream-gateway
#
# Three stages, all on the same base: Node 24 LTS on Debian 12 (bookworm) slim. The app also runs
# on Node 20.12+ (package.json engines; CI runs the suite on both), but the image ships the LTS
# line with the longest support ahead of it. Every stage uses the same tag, so node_modules is
# installed and dist/ built by the very node that runs them.
#   build     - every dependency (dev included), `npm run build`: the workspace packages
#               (packages/protocol, packages/client, packages/playground), then the service
#               (tsc -p tsconfig.build.json -> dist/, the playground bundle -> dist/playground/assets)
#   prod-deps - `npm ci --omit=dev`: the production node_modules only, no compiler, no jest
#   runtime   - node_modules + dist/ + public/ + package.json, and the one workspace package the
#               service requires at run time (@holysheep/protocol: its package.json and dist/),
#               as the unprivileged `node` user
#
# npm ci checks the lockfile against every workspace's package.json, so each stage that installs
# copies all of them first (test/…/deploy-manifests.spec.ts checks these lines against package.json's
# "workspaces").
#
# Nothing here is fetched at runtime: the image is self-contained. For reproducible builds pin the
# base by digest (node:24-bookworm-slim@sha256:...) in your CI; the tag is kept readable here.

# ---------------------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
# No telemetry / update checks during the build (@scarf/scarf is a dev dependency's postinstall).
ENV SCARF_ANALYTICS=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
# Manifests first so the dependency layer is cached until a package.json or the lockfile changes.
COPY package.json package-lock.json ./
COPY packages/protocol/package.json ./packages/protocol/
COPY packages/client/package.json ./packages/client/
COPY packages/playground/package.json ./packages/playground/
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY packages ./packages
COPY src ./src
RUN npm run build

# ---------------------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS prod-deps
WORKDIR /app
ENV SCARF_ANALYTICS=false \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
COPY packages/protocol/package.json ./packages/protocol/
COPY packages/client/package.json ./packages/client/
COPY packages/playground/package.json ./packages/playground/
# Only the root package and the one workspace it runs with. --omit=optional drops react, which the
# SDK names as an optional peer: npm counts it "devOptional", not dev (no production dependency has
# optional dependencies of its own today; the install above lists the same packages as without the
# workspace, plus the protocol's link).
RUN npm ci --omit=dev --omit=optional --include-workspace-root --workspace=@holysheep/protocol \
    && npm cache clean --force

# ---------------------------------------------------------------------------------------------
FROM node:24-bookworm-slim AS runtime
# OCI annotations, so a registry, a scanner or `docker inspect` can tell which release and which
# commit an image is. The release builds it with (docs/operations.md, "Releasing"):
#   docker build --build-arg VERSION=$(node -p "require('./package.json').version") \
#     --build-arg REVISION=$(git rev-parse HEAD) --build-arg SOURCE=<repository URL> .
# VERSION's default is package.json's version (a test keeps them equal).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="holysheep-stream-gateway" \
      org.opencontainers.image.description="WebSocket gateway relaying OpenAI-compatible streamed chat completions token by token" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="UNLICENSED"
# production: HOLYSHEEP_API_KEY and AUTH_MODE become required, the playground defaults to off.
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
# Files stay owned by root and read-only to the `node` user: the app never writes to its own
# tree, which is also what lets Kubernetes run it with readOnlyRootFilesystem.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
# node_modules/@holysheep/protocol is a workspace link to packages/protocol: the wire types and
# codes the service requires at run time.
COPY packages/protocol/package.json ./packages/protocol/
COPY --from=build /app/packages/protocol/dist ./packages/protocol/dist
# The playground page is read at boot (when PLAYGROUND_ENABLED=true) from ../../public relative
# to dist/playground/, i.e. /app/public: it must sit beside dist/.
COPY public ./public

# The base image's unprivileged user (uid/gid 1000). Kubernetes sets runAsUser: 1000 explicitly
# so that runAsNonRoot can be verified against a numeric id.
USER node
EXPOSE 8080

# Kubernetes ignores HEALTHCHECK (its probes are the real ones); this helps plain `docker run`.
# Liveness only: it never depends on the upstream. Uses Node's built-in fetch (no curl in slim).
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# SIGTERM is the drain signal: node must be PID 1 and receive it directly, so exec form and no
# npm / sh wrapper (npm does not forward signals reliably; sh -c would swallow them). The app
# drains in-flight streams for up to DRAIN_TIMEOUT_MS and exits 0. It spawns no children, so
# there are no zombies to reap and no init process is needed.
# --max-semi-space-size=4 (MiB): a young generation a quarter of V8's default (16 MiB on Node 20).
# A scavenge pauses to copy what is still alive, and every stream that starts leaves ~20 KiB of
# socket, request and parser state alive: the longer scavenges wait, the more each pause copies.
# Against 8 MiB: twice the scavenges, each about half as long, fewer loop stalls over 4 ms, less
# RSS per active stream, CPU within the noise (benchmark `--variant` runs; issue 13's note).
# `npm run start:prod` and the benchmark use the same flags.
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=4", "dist/main.js"]
