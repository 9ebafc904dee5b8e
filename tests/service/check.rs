//! `boardsync check`: a valid file prints its summary, every kind of bad file exits 2 with
//! `FILE:LINE:COL: message`, and secrets never reach the output.
//!
//! Each file in tests/fixtures/bad/ opens with `# expect: LINE:COL: message` lines: the problems
//! `check` must report for it, at those places.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SECRETS: [(&str, &str); 4] = [
    ("MIRO_TOKEN", "miro-token-s3cr3t"),
    ("MIRO_CLIENT_SECRET", "miro-client-s3cr3t"),
    ("MONDAY_TOKEN", "monday-token-s3cr3t"),
    ("MONDAY_SIGNING_SECRET", "monday-signing-s3cr3t"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary in the crate root with a clean environment plus `vars`.
fn boardsync(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(crate::common::bin())
        .args(args)
        .current_dir(root())
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_example_file_is_valid_with_its_four_variables_set() {
    let out = boardsync(&["check", "mappings/example.toml"], &SECRETS);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        stdout.starts_with("mappings/example.toml: valid; 1 pair, 4 fields"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pair \"Sprint planning\" (/pairs/sprint-planning)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("status  style.fillColor  <->  status  (3 values)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-->  long_text"),
        "one-way field shown as such: {stdout}"
    );
}

#[test]
fn secrets_never_appear_in_check_output() {
    let mut vars = SECRETS.to_vec();
    vars.push((
        "DATABASE_URL",
        "postgres://app:db-pa55word@db.internal/boardsync",
    ));
    let out = boardsync(&["check", "mappings/example.toml"], &vars);
    assert_eq!(out.status.code(), Some(0));
    let all = text(&out.stdout) + &text(&out.stderr);
    for (_, secret) in SECRETS {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
    assert!(
        !all.contains("db-pa55word"),
        "database password leaked: {all}"
    );
    assert!(
        all.contains("postgres://app:***@db.internal/boardsync"),
        "{all}"
    );
}

#[test]
fn the_example_file_without_its_variables_names_each_missing_one() {
    let out = boardsync(&["check", "mappings/example.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for (name, _) in SECRETS {
        let line = stderr
            .lines()
            .find(|l| l.ends_with(&format!("environment variable {name} is not set")))
            .unwrap_or_else(|| panic!("{name} not named in:\n{stderr}"));
        assert!(line.starts_with("mappings/example.toml:"), "{line}");
    }
    assert!(stderr.contains("4 problems"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn config_comes_from_the_environment_when_no_file_is_given() {
    let mut vars = SECRETS.to_vec();
    vars.push(("BOARDSYNC_CONFIG", "mappings/example.toml"));
    let out = boardsync(&["check"], &vars);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));

    let out = boardsync(&["check"], &SECRETS);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no mappings file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_file_is_reported_not_panicked_on() {
    let out = boardsync(&["check", "no/such/file.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("no/such/file.toml: cannot read the mappings file"),
        "{stderr}"
    );
}

#[test]
fn help_explains_the_commands() {
    let out = boardsync(&["--help"], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    for needle in ["run", "check", "--config", "BOARDSYNC_CONFIG", "RFC 3339"] {
        assert!(stdout.contains(needle), "--help lacks {needle}: {stdout}");
    }
}

/// `(line, col, message)` from the fixture's `# expect:` lines.
fn expectations(path: &Path) -> Vec<(usize, usize, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|e| {
            let mut parts = e.splitn(3, ':');
            let line = parts.next().unwrap().parse().unwrap();
            let col = parts.next().unwrap().parse().unwrap();
            (line, col, parts.next().unwrap().trim().to_owned())
        })
        .collect()
}

#[test]
fn every_bad_file_exits_2_with_each_problem_at_its_line_and_column() {
    let dir = root().join("tests/fixtures/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "at least ten kinds of bad file, found {}",
        files.len()
    );
    for file in files {
        let rel = file
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let expected = expectations(&file);
        assert!(!expected.is_empty(), "{rel} has no # expect: line");
        let out = boardsync(&["check", &rel], &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rel}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{rel}: nothing on stdout for a bad file"
        );
        for (line, col, message) in &expected {
            let prefix = format!("{rel}:{line}:{col}: {message}");
            assert!(
                stderr.lines().any(|l| l.starts_with(&prefix)),
                "{rel}: expected a line starting with\n  {prefix}\ngot:\n{stderr}"
            );
        }
        let n = expected.len();
        let count = format!("{rel}: {n} problem{}", if n == 1 { "" } else { "s" });
        assert!(
            stderr.contains(&count),
            "{rel}: expected exactly {n}: {stderr}"
        );
    }
}

#[test]
fn the_sandbox_file_is_valid_without_any_variable() {
    let out = boardsync(&["check", "mappings/sandbox.toml"], &[]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("miro: http://127.0.0.1:8081/"), "{stdout}");
    assert!(
        stdout.contains("monday: http://127.0.0.1:8082/v2"),
        "{stdout}"
    );
}
