//! The ceiling for the ingest benchmark: an axum handler that reads the body and answers 200
//! without any work. `cargo run --release --example bare_ack -- 127.0.0.1:9099`

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9099".to_owned());
    let app = Router::new().fallback(post(|_body: Bytes| async { "accepted\n" }));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
