//! Loading rules that need no binary: defaults, overrides, per-type fields and value maps.

use super::report::ConfigError;
use super::settings::{DEFAULT_DATABASE_URL, DEFAULT_LISTEN, DEFAULT_MONDAY_API_VERSION};
use super::units::ByteSize;
use super::*;
use crate::domain::miro::ItemType;
use std::path::Path;

fn parse_with(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::parse(Path::new("m.toml"), text, &move |name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

const BASE: &str = r##"
[miro]
token = "${MIRO_TOKEN}"

[monday]
token = "monday"

[[pair]]
name = "Roadmap"
miro_board = "uXjVOfjiK8A="
monday_board = "1771812698"
miro_items = ["sticky_note", "card"]
miro_new_item = "card"

  [pair.fields]
  title  = { miro = { sticky_note = "data.content", card = "data.title" }, monday = "name" }
  status = { miro = { sticky_note = "style.fillColor" }, monday = "status", values = { red = "Stuck", light_green = "Done" } }
  theme  = { miro = { card = "style.cardTheme" }, monday = "color", values = { "#2d9bf0" = "Blue" }, direction = "miro_to_monday" }
"##;

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let c = parse_with(BASE, &[("MIRO_TOKEN", "abc")]).unwrap();
    assert_eq!(c.daemon.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.daemon.database_url.expose(), DEFAULT_DATABASE_URL);
    assert!(c.daemon.redis_url.is_none());
    assert_eq!(c.daemon.shutdown_timeout, Duration::from_secs(5));
    assert_eq!(c.daemon.store_timeout, Duration::from_secs(2));
    assert_eq!(c.daemon.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.daemon.body_read_timeout, Duration::from_secs(30));
    assert_eq!(c.daemon.max_connections, 4096);
    assert_eq!(
        c.ingress.redis_timeout.0,
        std::time::Duration::from_millis(250)
    );
    assert_eq!(c.miro.api_url.as_str(), "https://api.miro.com/");
    assert_eq!(c.monday.api_version, DEFAULT_MONDAY_API_VERSION);
    assert_eq!(c.ingress.body_limit, ByteSize(1 << 20));
    assert_eq!(c.miro.token.expose(), "abc");
    let p = &c.pairs[0];
    assert_eq!(p.slug, "roadmap");
    assert_eq!(p.monday_board.as_str(), "1771812698");
    assert_eq!(p.conflict, ConflictPolicy::Newest);
    assert_eq!(p.on_delete, DeletePolicy::Archive);
    assert_eq!(p.miro_new_item, ItemType::Card);
    assert!(!p.sync_existing);
}

#[test]
fn environment_overrides_win_over_the_file() {
    let text =
        format!("[daemon]\nlisten = \"127.0.0.1:9000\"\ndatabase_url = \"sqlite://a.db\"\n{BASE}");
    let c = parse_with(
        &text,
        &[
            ("MIRO_TOKEN", "abc"),
            ("BOARDSYNC_LISTEN", "0.0.0.0:7000"),
            ("BOARDSYNC_DASHBOARD_TOKEN", "d"),
            ("DATABASE_URL", "postgres://localhost/bs"),
            ("REDIS_URL", "redis://localhost:6379"),
        ],
    )
    .unwrap();
    assert_eq!(c.daemon.listen.to_string(), "0.0.0.0:7000");
    assert_eq!(c.daemon.database_url.expose(), "postgres://localhost/bs");
    assert_eq!(
        c.daemon.redis_url.unwrap().expose(),
        "redis://localhost:6379"
    );
}

#[test]
fn a_bad_override_is_named_by_its_variable() {
    let err = parse_with(
        BASE,
        &[("MIRO_TOKEN", "abc"), ("BOARDSYNC_LISTEN", "everywhere")],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "m.toml: BOARDSYNC_LISTEN=`everywhere` is not an address such as 127.0.0.1:8080"
    );
}

#[test]
fn per_type_fields_apply_only_to_their_types() {
    let c = parse_with(BASE, &[("MIRO_TOKEN", "abc")]).unwrap();
    let f = &c.pairs[0].fields;
    let title = f.iter().find(|f| f.name == "title").unwrap();
    assert_eq!(
        title.miro.path_for(ItemType::StickyNote),
        Some("data.content")
    );
    assert_eq!(title.miro.path_for(ItemType::Card), Some("data.title"));
    let status = f.iter().find(|f| f.name == "status").unwrap();
    assert_eq!(status.miro.path_for(ItemType::Card), None);
}

#[test]
fn value_maps_translate_both_ways_in_file_order() {
    let c = parse_with(BASE, &[("MIRO_TOKEN", "abc")]).unwrap();
    let status = c.pairs[0]
        .fields
        .iter()
        .find(|f| f.name == "status")
        .unwrap();
    assert_eq!(status.values[0], ("red".to_owned(), "Stuck".to_owned()));
    assert_eq!(status.to_monday_value("light_green"), Some("Done"));
    assert_eq!(status.to_miro_value("Stuck"), Some("red"));
    assert_eq!(
        status.to_monday_value("violet"),
        None,
        "unmapped colours do not sync"
    );
    let title = c.pairs[0]
        .fields
        .iter()
        .find(|f| f.name == "title")
        .unwrap();
    assert_eq!(
        title.to_monday_value("<p>x</p>"),
        Some("<p>x</p>"),
        "no map: copied as is"
    );
}

#[test]
fn two_colours_may_share_a_label_only_one_way() {
    let ambiguous = BASE.replace(
        "values = { red = \"Stuck\", light_green = \"Done\" }",
        "values = { red = \"Stuck\", pink = \"Stuck\" }",
    );
    let err = parse_with(&ambiguous, &[("MIRO_TOKEN", "abc")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("`red` and `pink` both map to \"Stuck\""),
        "{err}"
    );

    let one_way = ambiguous.replace(
        "values = { red = \"Stuck\", pink = \"Stuck\" }",
        "values = { red = \"Stuck\", pink = \"Stuck\" }, direction = \"miro_to_monday\"",
    );
    assert!(parse_with(&one_way, &[("MIRO_TOKEN", "abc")]).is_ok());
}

#[test]
fn boards_shared_by_pairs_need_filters_that_tell_them_apart() {
    let pair = |name: &str, filter: &str| {
        format!(
            "[[pair]]\nname = \"{name}\"\nmiro_board = \"b=\"\nmonday_board = 1\n{filter}\nfields.t = {{ miro = \"data.content\", monday = \"name\" }}\n"
        )
    };
    let head = "[miro]\ntoken = \"t\"\n[monday]\ntoken = \"t\"\n";
    let apart = format!(
        "{head}{}{}",
        pair(
            "a",
            "miro_filter = { frame = \"1\" }\nmonday_filter = { groups = [\"g1\"] }"
        ),
        pair(
            "b",
            "miro_filter = { frame = \"2\" }\nmonday_filter = { groups = [\"g2\"] }"
        )
    );
    assert!(
        parse_with(&apart, &[]).is_ok(),
        "{:?}",
        parse_with(&apart, &[]).err()
    );

    let overlapping = format!(
        "{head}{}{}",
        pair(
            "a",
            "miro_filter = { frame = \"1\" }\nmonday_filter = { groups = [\"g1\", \"g2\"] }"
        ),
        pair(
            "b",
            "miro_filter = { frame = \"2\" }\nmonday_filter = { groups = [\"g2\"] }"
        )
    );
    let err = parse_with(&overlapping, &[]).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert!(
        err.to_string()
            .contains("monday board 1 is also in pair \"a\""),
        "{err}"
    );
}

#[test]
fn landing_places_must_pass_the_pair_filters() {
    let text = BASE.replace(
        "miro_new_item = \"card\"",
        "miro_new_item = \"card\"\nmiro_frame = \"9\"\nmonday_group = \"new\"\nmiro_filter = { frame = \"8\" }\nmonday_filter = { groups = [\"topics\"] }",
    );
    let err = parse_with(&text, &[("MIRO_TOKEN", "abc")]).unwrap_err();
    let all = err.to_string();
    assert_eq!(err.problems.len(), 2, "{all}");
    assert!(
        all.contains("`miro_frame` is 9, but `miro_filter` only takes items in frame 8"),
        "{all}"
    );
    assert!(
        all.contains("`monday_group` new is not among `monday_filter.groups`"),
        "{all}"
    );
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let c = parse_with(BASE, &[("MIRO_TOKEN", "very-secret-token")]).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("very-secret-token"));
    assert!(debug.contains("Secret(***)"));
}

#[test]
fn the_poller_adapts_by_default_and_an_interval_set_alone_is_kept() {
    let env = [("MIRO_TOKEN", "abc")];
    let p = parse_with(BASE, &env).unwrap().poller;
    assert_eq!(
        (p.min_interval, p.interval, p.max_interval),
        (
            Duration::from_secs(1),
            Duration::from_secs(5),
            Duration::from_secs(60)
        )
    );
    assert_eq!(p.credit_share, Share(0.5));
    let fixed = parse_with(&format!("[poller]\ninterval = \"2m\"\n{BASE}"), &env)
        .unwrap()
        .poller;
    assert_eq!(fixed.min_interval, Duration::from_secs(120));
    assert_eq!(fixed.max_interval, Duration::from_secs(120));
}

#[test]
fn poller_settings_out_of_range_are_refused_where_they_are_written() {
    let env = [("MIRO_TOKEN", "abc")];
    for (line, says) in [
        (
            "min_interval = \"500ms\"",
            "`min_interval` must be at least 1s",
        ),
        (
            "min_interval = \"10s\"\nmax_interval = \"5s\"",
            "`max_interval` must not be shorter",
        ),
        (
            "interval = \"2m\"\nmax_interval = \"1m\"",
            "`interval` must lie between",
        ),
        ("credit_share = 0.0", "`credit_share` must be above 0"),
        ("credit_share = 1.5", "is not a share"),
        ("content_log_interval = \"5s\"", "at least 10s"),
    ] {
        let err = parse_with(&format!("[poller]\n{line}\n{BASE}"), &env).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(says), "{line}: {text}");
        assert!(text.contains("m.toml:"), "{line}: {text}");
    }
}

#[test]
fn connection_limits_that_would_refuse_everything_are_refused_where_they_are_written() {
    let env = [("MIRO_TOKEN", "abc")];
    for (line, says) in [
        (
            "max_connections = 0",
            "m.toml:2:19: `max_connections` must be between 1 and",
        ),
        (
            "max_connections = -5",
            "m.toml:2:19: `max_connections` must be between 1 and",
        ),
        (
            "header_read_timeout = \"0s\"",
            "m.toml:2:23: `header_read_timeout` must be longer than zero",
        ),
        (
            "body_read_timeout = \"0ms\"",
            "m.toml:2:21: `body_read_timeout` must be longer than zero",
        ),
    ] {
        let err = parse_with(&format!("[daemon]\n{line}\n{BASE}"), &env).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(says), "{line}: {text}");
    }
    let c = parse_with(
        &format!("[daemon]\nmax_connections = 20\nheader_read_timeout = \"1s\"\n{BASE}"),
        &env,
    )
    .unwrap();
    assert_eq!(c.daemon.max_connections, 20);
    assert_eq!(c.daemon.header_read_timeout, Duration::from_secs(1));
}

#[test]
fn comments_map_to_updates_and_show_on_miro_as_text_unless_told() {
    let text = BASE.replace(
        "miro_items = [\"sticky_note\", \"card\"]",
        "miro_items = [\"sticky_note\", \"card\", \"app_card\"]",
    ) + "  comments = { miro = \"comments\", monday = \"updates\" }\n";
    let c = parse_with(&text, &[("MIRO_TOKEN", "abc")]).unwrap();
    let comments = c.pairs[0].fields.iter().find(|f| f.is_comments()).unwrap();
    assert_eq!(comments.miro_as, Some(MiroAs::Text));
    assert!(
        c.pairs[0]
            .fields
            .iter()
            .filter(|f| !f.is_comments())
            .all(|f| f.miro_as.is_none())
    );

    let text = text.replace(
        "monday = \"updates\" }",
        "monday = \"updates\", miro_as = \"app_card_field\", direction = \"monday_to_miro\" }",
    );
    let c = parse_with(&text, &[("MIRO_TOKEN", "abc")]).unwrap();
    let comments = c.pairs[0].fields.iter().find(|f| f.is_comments()).unwrap();
    assert_eq!(comments.miro_as, Some(MiroAs::AppCardField));
    assert_eq!(comments.direction, Direction::MondayToMiro);
}

#[test]
fn listening_beyond_loopback_without_a_dashboard_token_is_refused_at_the_listen_value() {
    let text = format!("[daemon]\nlisten = \"0.0.0.0:8080\"\n{BASE}");
    let err = parse_with(&text, &[("MIRO_TOKEN", "abc")]).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with("m.toml:2:10: `listen` is 0.0.0.0:8080, not a loopback address"),
        "{message}"
    );
    assert!(message.contains("set `[dashboard] token`"), "{message}");

    let overridden = parse_with(
        BASE,
        &[("MIRO_TOKEN", "abc"), ("BOARDSYNC_LISTEN", "[::]:8080")],
    )
    .unwrap_err();
    assert!(
        overridden
            .to_string()
            .starts_with("m.toml: BOARDSYNC_LISTEN is [::]:8080, not a loopback address"),
        "{overridden}"
    );
}

#[test]
fn loopback_needs_no_dashboard_token() {
    for listen in ["127.0.0.1:0", "[::1]:8080", "[::ffff:127.0.0.1]:8080"] {
        let c = parse_with(BASE, &[("MIRO_TOKEN", "abc"), ("BOARDSYNC_LISTEN", listen)])
            .unwrap_or_else(|e| panic!("{listen}: {e}"));
        assert!(c.dashboard.token.is_none());
    }
}

#[test]
fn a_dashboard_token_from_the_file_or_the_environment_opens_any_address() {
    let with_file =
        format!("[daemon]\nlisten = \"0.0.0.0:8080\"\n[dashboard]\ntoken = \"from-file\"\n{BASE}");
    let bare = format!("[daemon]\nlisten = \"0.0.0.0:8080\"\n{BASE}");
    for (text, from_env, expected) in [
        (&with_file, None, "from-file"),
        (&with_file, Some("from-env"), "from-env"),
        (&bare, Some("from-env"), "from-env"),
    ] {
        let mut env = vec![("MIRO_TOKEN", "abc")];
        env.extend(from_env.map(|t| ("BOARDSYNC_DASHBOARD_TOKEN", t)));
        let c = parse_with(text, &env).unwrap_or_else(|e| panic!("{expected}: {e}"));
        assert_eq!(c.dashboard.token.unwrap().expose(), expected);
    }
}

#[test]
fn an_empty_dashboard_token_is_refused_where_it_is_written() {
    let text = format!("[dashboard]\ntoken = \"\"\n{BASE}");
    let err = parse_with(&text, &[("MIRO_TOKEN", "abc")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "m.toml:2:9: `token` must not be empty; leave it out to run without one on loopback"
    );
}

#[test]
fn the_dashboard_token_does_not_show_in_debug_output() {
    let text = format!("[dashboard]\ntoken = \"dashboard-s3cret\"\n{BASE}");
    let c = parse_with(&text, &[("MIRO_TOKEN", "abc")]).unwrap();
    assert!(!format!("{c:?}").contains("dashboard-s3cret"));
}
