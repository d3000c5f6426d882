# The image runs the TypeScript sources through Node's type stripping (outside node_modules, so no
# build stage). Targets: `gateway` (the default, last) and `simulator` (the demo's fake providers).
FROM node:24-slim AS base
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY lib ./lib
COPY config ./config

FROM base AS simulator
COPY tools/simulator ./tools/simulator
USER node
EXPOSE 8000
ENTRYPOINT ["node", "tools/simulator/serve.ts"]

FROM base AS gateway
USER node
EXPOSE 9080 9180
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:9180/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/ai-proxy-multi.js"]
CMD ["start"]
