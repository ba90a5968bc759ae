# relais: multi-stage build, slim runtime, non-root user, data in a volume.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
# The binary carries its default templates and feed list (built in at compile time).
COPY templates ./templates
COPY sources.toml ./sources.toml
# Cargo.toml declares the benches: cargo reads their files even to build the binary alone.
COPY benches ./benches
RUN cargo build --release --locked --bin relais

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /app --uid 10001 relais
WORKDIR /app
COPY --from=build /src/target/release/relais /usr/local/bin/relais
# Templates and sources.toml are inside the binary; mount /app/templates (files that override
# the built-in ones) or /app/sources.toml to change them.
RUN mkdir -p /app/data && chown relais:relais /app/data
USER relais
VOLUME ["/app/data"]
ENV RELAIS_LISTEN=0.0.0.0:8080 \
    RELAIS_DATABASE_URL=sqlite:///app/data/relais.db \
    RELAIS_DATA_DIR=/app/data \
    RELAIS_OUTBOX_DIR=/app/data/outbox
EXPOSE 8080
ENTRYPOINT ["relais"]
CMD ["serve"]
