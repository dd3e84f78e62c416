# syntax=docker/dockerfile:1
# The bot's image. compose.yaml builds it and runs it next to a local Bot API server (the README's
# "Production: docker compose"). Alone, against the cloud Bot API (uploads in parts of 50 MB):
#   docker build -t download-bot .
#   docker run -d --restart unless-stopped -e BOT_TOKEN=... \
#     -e CONFIG_JSON='{"allowedChatIds": [...], "dataDir": "/data"}' -v download-bot-data:/data download-bot
# (or mount a config file: -v "$PWD/config.json:/config/config.json:ro", with "dataDir": "/data").

# Stage 1: dependencies and the JavaScript build. better-sqlite3 and webtorrent's native parts
# download prebuilt binaries when they exist for this platform and fall back to compiling, hence
# the toolchain here. TypeScript (a dev dependency) builds dist/, then the dev dependencies go.
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# npm ci runs the package's prepare step (scripts/build.mjs, which builds nothing before src/ is here).
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 2: the tools the image carries besides Debian's, each pinned and checked before use.
FROM node:24-bookworm-slim AS tools
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /tools
# yt-dlp, the release zipapp from its project (it runs on the runtime's python3, and carries
# yt-dlp-ejs, its YouTube challenge solver). Sites break as yt-dlp ages: to update, set the
# version and the SHA-256 of its `yt-dlp` file (the release's SHA2-256SUMS lists it) and rebuild.
# The checksum below was taken from several independent public scripts and could not be checked
# against the release when this was written (no network); a wrong one fails this step loudly.
ARG YT_DLP_VERSION=2025.12.08
ARG YT_DLP_SHA256=aed043cabf6b352dfd5438afff595e31532538d5af7c8f4f95ced1e6f1b35c2a
RUN curl -fsSL --retry 3 -o yt-dlp "https://github.com/yt-dlp/yt-dlp/releases/download/${YT_DLP_VERSION}/yt-dlp" \
 && echo "${YT_DLP_SHA256}  yt-dlp" | sha256sum -c - \
 && chmod 755 yt-dlp
# deno, the JavaScript runtime yt-dlp runs YouTube's player code in (its default, sandboxed).
# From the npm registry, pinned by docker/deno/package-lock.json, whose integrity hashes npm ci
# checks; the binary is the optional dependency for this platform (@deno/linux-x64-glibc or
# -arm64-glibc). No install scripts are needed: the binary is taken as it is.
COPY docker/deno/package.json docker/deno/package-lock.json ./deno-npm/
RUN cd deno-npm \
 && npm ci --ignore-scripts --no-audit --no-fund \
 && install -m 755 node_modules/@deno/linux-*-glibc/deno /tools/deno \
 && /tools/deno --version

# Stage 3: the runtime image: no compiler, no npm cache, a non-root user. Debian's ffmpeg (the
# only one the bot uses: it parses hostile media, so it must be a maintained build) joins and cuts
# local files; python3 runs yt-dlp, which reads the pages the bot's own reader does not.
FROM node:24-bookworm-slim
# HOME=/tmp: yt-dlp and deno keep their caches under $HOME, and compose runs the bot as the Bot API
# server's uid (101), which has no home directory here. MALLOC_ARENA_MAX=2: glibc's malloc keeps two
# arenas instead of one per thread that allocates (a few MB less; BENCHMARKS.md), as npm start does.
ENV NODE_ENV=production \
    CONFIG_FILE=/config/config.json \
    MALLOC_ARENA_MAX=2 \
    HOME=/tmp \
    LANG=C.UTF-8
WORKDIR /app
# /data is the dataDir for `docker run`; no VOLUME line, which would give every container (compose's
# too, whose data lives elsewhere) an anonymous volume nobody uses: mount one with -v instead.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini ffmpeg python3 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data /config \
 && chown node:node /data
COPY --from=tools /tools/yt-dlp /tools/deno /usr/local/bin/
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
USER node
# Healthy while the bot's heartbeat is under two minutes old and its database answers a
# read-only query (src/healthcheck.ts); `docker inspect` shows the check's one line.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s CMD ["node", "dist/src/healthcheck.js"]
# tini forwards SIGTERM so `docker stop` gives the bot its clean shutdown (partial downloads kept).
ENTRYPOINT ["/usr/bin/tini", "--"]
# The V8 flags npm start gives Node 24 (scripts/node-flags.mjs; BENCHMARKS.md says why).
CMD ["node", "--max-semi-space-size=1", "--initial-old-space-size=64", "--expose-gc", "--no-concurrent-array-buffer-sweeping", "--no-parallel-scavenge", "--external-memory-accounted-in-global-limit", "dist/src/main.js"]
