//! docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so this reads them
//! and checks that they agree with each other and with the code: the services exist, the
//! daemon's URLs point at the services with their credentials, and the image builds the binary.

use std::path::PathBuf;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compose() -> Yaml {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn env_of<'a>(service: &'a Yaml, key: &str) -> &'a str {
    service["environment"][key]
        .as_str()
        .unwrap_or_else(|| panic!("environment has no {key}"))
}

#[test]
fn compose_has_the_daemon_and_both_stores() {
    let doc = compose();
    for name in ["boardsync", "postgres", "redis"] {
        assert!(!doc["services"][name].is_badvalue(), "no service {name}");
    }
    let depends = &doc["services"]["boardsync"]["depends_on"];
    for store in ["postgres", "redis"] {
        assert_eq!(
            depends[store]["condition"].as_str(),
            Some("service_healthy"),
            "{store}"
        );
        assert!(
            !doc["services"][store]["healthcheck"].is_badvalue(),
            "{store} has a healthcheck"
        );
    }
}

#[test]
fn the_daemon_reaches_postgres_with_the_credentials_postgres_is_given() {
    let doc = compose();
    let daemon = &doc["services"]["boardsync"];
    let pg = &doc["services"]["postgres"];
    let url = url::Url::parse(env_of(daemon, "DATABASE_URL")).unwrap();
    assert_eq!(url.scheme(), "postgres");
    assert_eq!(url.host_str(), Some("postgres"));
    assert_eq!(url.username(), env_of(pg, "POSTGRES_USER"));
    assert_eq!(url.password(), Some(env_of(pg, "POSTGRES_PASSWORD")));
    assert_eq!(url.path(), format!("/{}", env_of(pg, "POSTGRES_DB")));

    let redis = url::Url::parse(env_of(daemon, "REDIS_URL")).unwrap();
    assert_eq!(redis.host_str(), Some("redis"));
    assert_eq!(redis.port(), Some(6379));
}

#[test]
fn the_daemon_gets_its_mappings_file_and_the_secrets_it_names() {
    let doc = compose();
    let daemon = &doc["services"]["boardsync"];
    let command: Vec<&str> = daemon["command"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let config_at = command[command.iter().position(|c| *c == "--config").unwrap() + 1];
    let mount = daemon["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .find(|v| v.split(':').nth(1) == Some(config_at))
        .expect("the --config file is mounted");
    let source = mount.split(':').next().unwrap();
    let mappings = std::fs::read_to_string(root().join(source)).expect("the mounted file exists");
    for var in [
        "MIRO_TOKEN",
        "MIRO_CLIENT_SECRET",
        "MONDAY_TOKEN",
        "MONDAY_SIGNING_SECRET",
    ] {
        if mappings.contains(&format!("${{{var}}}")) {
            env_of(daemon, var);
        }
    }

    let listen = env_of(daemon, "BOARDSYNC_LISTEN");
    let port = listen.rsplit(':').next().unwrap();
    let published = daemon["ports"].as_vec().unwrap()[0].as_str().unwrap();
    assert!(
        published.ends_with(&format!(":{port}")),
        "{published} publishes the listen port {port}"
    );
}

#[test]
fn the_daemon_listening_beyond_loopback_is_given_a_dashboard_token() {
    let doc = compose();
    let daemon = &doc["services"]["boardsync"];
    let listen: std::net::SocketAddr = env_of(daemon, "BOARDSYNC_LISTEN").parse().unwrap();
    if !listen.ip().is_loopback() {
        assert_eq!(
            env_of(daemon, "BOARDSYNC_DASHBOARD_TOKEN"),
            "${BOARDSYNC_DASHBOARD_TOKEN:?set BOARDSYNC_DASHBOARD_TOKEN}",
            "compose must refuse to start without the token rather than the daemon"
        );
    }
}

#[test]
fn the_dockerfile_builds_then_ships_only_the_binary() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let stages: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert!(stages[0].ends_with("AS build"));
    assert!(text.contains("cargo build --release --locked"));
    assert!(
        text.contains("COPY --from=build /src/target/release/boardsync /usr/local/bin/boardsync")
    );
    // Every folder the build copies exists, or the image would not build.
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(
                root().join(src).exists(),
                "Dockerfile copies {src}, which does not exist"
            );
        }
    }
    assert!(text.contains("ENTRYPOINT [\"boardsync\"]"));
}
