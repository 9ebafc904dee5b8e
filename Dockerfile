# Build stage: compile a release binary.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY schema ./schema
RUN cargo build --release --locked && strip target/release/boardsync

# Final stage: the binary, CA certificates for the Miro and monday APIs, and nothing else.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/boardsync --create-home boardsync
COPY --from=build /src/target/release/boardsync /usr/local/bin/boardsync
USER boardsync
WORKDIR /var/lib/boardsync
# Beyond loopback the dashboard needs a token: run the image with BOARDSYNC_DASHBOARD_TOKEN set.
ENV BOARDSYNC_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["boardsync"]
CMD ["run", "--config", "/etc/boardsync/boardsync.toml"]
