# syntax=docker/dockerfile:1
# Build: docker build -t download-bot .
# Run:   docker run -d --name download-bot -v "$PWD/config.json:/config/config.json:ro" -v download-bot-data:/data download-bot
# (set "dataDir": "/data" in config.json; or pass the whole config as -e CONFIG_JSON='{...}', and the token as -e BOT_TOKEN=...)

# Stage 1: dependencies and the JavaScript build. better-sqlite3 and webtorrent's native parts
# download prebuilt binaries when they exist for this platform and fall back to compiling, hence
# the toolchain here. TypeScript (a dev dependency) builds dist/, then the dev dependencies go.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 2: the runtime image: no compiler, no npm cache, a non-root user. Debian's ffmpeg (the
# only one the bot uses: it parses hostile media, so it must be a maintained build) joins and cuts
# local files; yt-dlp reads the pages the bot's own reader does not.
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    CONFIG_FILE=/config/config.json
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini ffmpeg yt-dlp \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data /config \
 && chown node:node /data
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=deps --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
USER node
VOLUME ["/data"]
# tini forwards SIGTERM so `docker stop` gives the bot its clean shutdown (partial downloads kept).
ENTRYPOINT ["/usr/bin/tini", "--"]
# The V8 flags npm start gives Node 24 (scripts/node-flags.mjs; BENCHMARKS.md says why).
CMD ["node", "--max-semi-space-size=2", "--initial-old-space-size=64", "--external-memory-accounted-in-global-limit", "dist/src/main.js"]
