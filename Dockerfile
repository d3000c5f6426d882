# Targets: `gateway` (the default, last) and `simulator` (the demo's fake providers). The gateway runs the
# JavaScript compiled into dist/, as the npm package does: Node's type stripping would cost every
# replica ~20 MiB of RSS (README, "Memory"). The simulator runs its TypeScript sources as they are.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY bin ./bin
COPY lib ./lib
RUN npm run build

FROM node:24-slim AS base
WORKDIR /app
# Two malloc arenas instead of 8 per core: after a burst, glibc keeps less freed memory (115 instead of
# 127 MiB of RSS once an idle gateway had collected, in one measurement; README, "Memory").
ENV NODE_ENV=production MALLOC_ARENA_MAX=2
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY config ./config

FROM base AS simulator
COPY lib ./lib
COPY tools/simulator ./tools/simulator
USER node
EXPOSE 8000
ENTRYPOINT ["node", "tools/simulator/serve.ts"]

FROM base AS gateway
# bin/ai-proxy-multi.js runs dist/bin/cli.js when bin/cli.ts is not there.
COPY bin/ai-proxy-multi.js ./bin/
COPY --from=build /app/dist ./dist
USER node
EXPOSE 9080 9180
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:9180/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/ai-proxy-multi.js"]
CMD ["start"]
