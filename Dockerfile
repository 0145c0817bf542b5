# syntax=docker/dockerfile:1
#
# leadscore container image: leadscore-server (entrypoint) and leadscore-train,
# with the bundled model repository baked in at /app/models.
#
#   docker build -t leadscore:0.1.0 .
#   docker run --rm -p 50051:50051 -p 8080:8080 -p 9090:9090 leadscore:0.1.0
#   grpcurl -plaintext localhost:50051 list
#
# Needs BuildKit (the default builder since Docker 23; `DOCKER_BUILDKIT=1` on
# older engines) for the `RUN --mount=type=cache` lines. The `# syntax` line
# above makes BuildKit fetch a Dockerfile frontend that understands them.
#
# Serving your own models instead of the baked-in ones: mount a model
# repository (layout <name>/<version>/model.json) over /app/models, read-only:
#
#   docker run --rm -p 50051:50051 \
#     -v "$PWD/models:/app/models:ro" leadscore:0.1.0
#
# or mount it anywhere and point LEADSCORE_MODELS at it
# (`-v /srv/models:/models:ro -e LEADSCORE_MODELS=/models`). The server watches
# the directory, rescans it every 30s (LEADSCORE_RELOAD_POLL_INTERVAL) and on
# SIGHUP (`docker kill --signal HUP <container>`), so a new version directory
# published by rename is picked up without a restart.
# On Kubernetes, see deploy/kubernetes/README.md.
#
# Training inside the image (the trainer writes, so mount a writable directory):
#
#   docker run --rm --entrypoint /usr/local/bin/leadscore-train \
#     -v "$PWD:/work" leadscore:0.1.0 \
#     --data /work/crm_export.csv --target converted --out /work/models/my_model/1

# ---------------------------------------------------------------------------
# Build stage
# ---------------------------------------------------------------------------
# The oldest toolchain the locked dependencies accept: cargo refuses to build a
# crate whose rust-version is newer than rustc (tonic 0.14 says 1.88,
# notify-types 2.3 says 1.91). tests/api/deploy.rs fails when Cargo.lock needs
# more than this, so bump it then. The bookworm build image matches the glibc
# (2.36) of the distroless debian12 runtime image below.
ARG RUST_VERSION=1.91
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src

# 1. Dependencies only, cached as an image layer: the manifests, the build
#    script and the proto files it compiles, with placeholder sources. This
#    layer is rebuilt only when Cargo.toml, Cargo.lock, build.rs or proto/
#    change. No system packages are needed: protox compiles the protos in pure
#    Rust (no protoc), and nothing links OpenSSL.
#    Cargo discovers tests/, examples/ and benches/ automatically, so their
#    absence here is fine; a target declared explicitly in Cargo.toml
#    ([[example]], [[bench]], ...) would need its file copied too.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
RUN mkdir -p src/bin \
 && echo '// placeholder for the dependency layer' > src/lib.rs \
 && echo 'fn main() {}' > src/bin/leadscore-server.rs \
 && echo 'fn main() {}' > src/bin/leadscore-train.rs
# The crates.io download cache is a BuildKit cache mount: it survives between
# builds on the same builder but never ends up in an image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked --bin leadscore-server --bin leadscore-train

# 2. The real sources. COPY keeps the files' modification times from the build
#    context, which can be older than the placeholder build above, so touch the
#    crate roots to make cargo rebuild the leadscore crate itself (the compiled
#    dependencies in target/ are reused).
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    touch src/lib.rs src/bin/leadscore-server.rs src/bin/leadscore-train.rs \
 && cargo build --release --locked --bin leadscore-server --bin leadscore-train \
 && mkdir -p /out \
 && cp target/release/leadscore-server target/release/leadscore-train /out/

# ---------------------------------------------------------------------------
# Runtime stage
# ---------------------------------------------------------------------------
# distroless/cc: glibc, libgcc_s and CA certificates, no shell and no package
# manager. The :nonroot tag's default user is nonroot, uid/gid 65532; USER below
# says so explicitly so that Kubernetes' runAsNonRoot check can verify a
# numeric uid. No shell also means: no `sleep` for a preStop hook (use the
# Kubernetes `sleep` lifecycle action) and no exec-style health checks (use the
# native gRPC probes against grpc.health.v1.Health; there is no Docker
# HEALTHCHECK because Docker has no built-in gRPC check).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

LABEL org.opencontainers.image.title="leadscore" \
      org.opencontainers.image.description="gRPC lead-scoring service: calibrated purchase likelihood for B2B leads, with exact explanations" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /out/leadscore-server /out/leadscore-train /usr/local/bin/

# The bundled model repository, owned by root and read-only for the server
# (uid 65532 can read it, not change it). Mount a volume over /app/models to
# serve other models without rebuilding (see the top of this file).
COPY models /app/models

WORKDIR /app
# JSON logs (one object per line) for the cluster's log collector. The
# addresses are the defaults, spelled out for `docker inspect`; use
# LEADSCORE_GRPC_ADDR=[::]:50051 on an IPv6-only network.
ENV LEADSCORE_MODELS=/app/models \
    LEADSCORE_LOG_FORMAT=json \
    LEADSCORE_GRPC_ADDR=0.0.0.0:50051 \
    LEADSCORE_HTTP_ADDR=0.0.0.0:8080 \
    LEADSCORE_METRICS_ADDR=0.0.0.0:9090

USER 65532:65532

# 50051: gRPC (LeadScoring, grpc.health.v1.Health, reflection), plaintext HTTP/2.
# 8080: the same API as HTTP/JSON (/v1) and KServe V2 REST (/v2), HTTP/1.1 and HTTP/2.
# 9090: Prometheus /metrics over HTTP.
EXPOSE 50051 8080 9090

# Exec form: the server is PID 1 and receives SIGTERM (graceful drain, exit 0)
# and SIGHUP (model reload) directly. Flags appended to `docker run IMAGE ...`
# go to leadscore-server, e.g. `--default-model x_education`.
ENTRYPOINT ["/usr/local/bin/leadscore-server"]
