# syntax=docker/dockerfile:1
# corbado-exporter: build with the Rust toolchain, run from a distroless image as non-root.
# CI has no Docker engine: .ci/dockerfile-build runs this file's build-stage commands outside a
# container, and hadolint lints it, so a broken step is caught before anyone builds the image.

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
# The git revision for corbado_exporter_build_info; pass --build-arg REVISION=$(git rev-parse --short=12 HEAD).
ARG REVISION=unknown
ENV CORBADO_EXPORTER_REVISION=${REVISION}
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# The runbook is compiled in (/runbook).
COPY docs/runbook.md ./docs/runbook.md
COPY benches ./benches
# Also the directory for --storage.path (the final stage has no shell to make it): mount a
# volume there to keep each project's active set across restarts. Mode 0700: it holds user IDs.
RUN cargo build --release --locked --bin corbado-exporter \
    && mkdir -m 0700 state

# distroless/cc: glibc and libgcc for the binary, CA certificates, no shell, user 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG REVISION=unknown
LABEL org.opencontainers.image.title="corbado-exporter" \
      org.opencontainers.image.description="Prometheus exporter for the sessions of a Corbado project" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/corbado-exporter/corbado-exporter"
COPY --from=build /src/target/release/corbado-exporter /usr/local/bin/corbado-exporter
COPY --from=build --chown=65532:65532 /src/state /var/lib/corbado-exporter
USER 65532:65532
EXPOSE 9877
# No shell or curl in the image: the binary checks itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/corbado-exporter", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/corbado-exporter"]
