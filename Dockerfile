# syntax=docker/dockerfile:1
# Switchboard API image: the TypeScript build happens in one stage, the runtime stage holds only
# production dependencies, the compiled JavaScript (dist/, with the web console's static files in
# dist/console/) and the CQL migrations (cql/).
# The same image runs the API (default command) and the one-shot migration
# (`node dist/src/migrate.js`). No secret is baked in: JWT_SECRET and the rest come from the
# environment at run time (see .env.example).
ARG NODE_VERSION=24

# ---- build: compile TypeScript ----------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
# The cache's Lua scripts are read next to their compiled modules; the web console (src/console/)
# is bundled by scripts/build-console.ts into dist/console/, served at /app.
RUN npm run build

# ---- runtime: production dependencies only, non-root --------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY cql ./cql
# The official image ships an unprivileged `node` user (uid 1000); the app writes nothing to disk.
USER node
EXPOSE 3000
# Liveness only (/readyz is for the load balancer and orchestrator): the slim image has no curl,
# so Node's own fetch asks.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself (graceful shutdown, see src/main.ts).
CMD ["node", "dist/src/main.js"]
