use super::*;

/// The single diagnostic for `text`, as (line, column, message).
fn one(text: &str) -> (usize, usize, String) {
    let diags = check_text(text);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    (d.line.unwrap(), d.column.unwrap(), d.message.clone())
}

#[test]
fn unknown_key_is_located_and_gets_a_suggestion() {
    let text = "# comment\n[server]\nshards = 2\n\n[play]\ngop_cache = true\nwrite_merg_ms = 5\n";
    let (line, col, msg) = one(text);
    assert_eq!((line, col), (7, 1));
    assert!(
        msg.starts_with("[play] unknown field `write_merg_ms`"),
        "{msg}"
    );
    assert!(msg.ends_with("did you mean `write_merge_ms`?"), "{msg}");
}

#[test]
fn unknown_table_is_located() {
    let (line, col, msg) = one("[server]\nshards = 1\n[plya]\nwrite_merge_ms = 5\n");
    assert_eq!((line, col), (3, 2));
    assert!(msg.contains("unknown field `plya`") && msg.contains("did you mean `play`?"));

    let (line, _, msg) = one("\n\nfoo = 1\n");
    assert_eq!(line, 3);
    assert!(!msg.contains("did you mean"), "{msg}");
}

#[test]
fn wrong_type_is_located_with_what_the_key_takes() {
    let text = "[play]\nwrite_merge_ms = 0\nqueue_max_ms = \"5s\"\n";
    let (line, col, msg) = one(text);
    assert_eq!((line, col), (3, 16));
    assert!(
        msg.starts_with("play.queue_max_ms: invalid type: string \"5s\""),
        "{msg}"
    );
    assert!(msg.ends_with("it takes an integer in 1..=600000 (ms); the default is 5000"));

    let (line, _, msg) = one("[socket]\n\nnodelay = \"yes\"\n");
    assert_eq!(line, 3);
    assert!(msg.contains("true or false; the default is true"), "{msg}");

    let (line, col, msg) = one("[server]\nlisten = [\"1.2.3.4:5\", 7]\n");
    assert_eq!((line, col), (2, 24));
    assert!(
        msg.starts_with("server.listen: invalid type: integer `7`"),
        "{msg}"
    );

    let (_, _, msg) = one("[server]\nchunk_size = -1\n");
    assert!(
        msg.contains("integer `-1`") && msg.contains("128..=65536"),
        "{msg}"
    );

    let (_, _, msg) = one("play = 5\n");
    assert_eq!(msg, "invalid type: integer `5`, expected a table");
}

#[test]
fn syntax_errors_are_located_on_one_line() {
    let (line, col, msg) = one("[play]\nwrite_merge_ms = \n");
    assert_eq!((line, col), (2, 18));
    assert!(!msg.contains('\n'), "{msg}");

    let (line, _, msg) = one("[server]\nshards = 1\nshards = 2\n");
    assert_eq!(line, 3);
    assert!(msg.contains("duplicate key"), "{msg}");
}

#[test]
fn out_of_range_points_at_the_key() {
    let text = "[server]\nshards = 4\n\n[play]\n# merge a little\nwrite_merge_ms = 5000\n";
    let diags = check_text(text);
    assert_eq!(diags.len(), 1);
    assert_eq!(
        diags[0].clone().with_file("config.toml").to_string(),
        "config.toml:6:1: play.write_merge_ms = 5000 is out of range: must be 0..=1000 (ms), \
         0 = write at once; the default is 0"
    );
}

#[test]
fn semantic_problems_all_reported_in_any_table_syntax() {
    let text = "server.listen = [\"0.0.0.0:1935\", \"x\"]\n\
                log = { level = \"loud\" }\n\
                [play]\nqueue_max_bytes = 0\n";
    let diags = check_text(text);
    let at: Vec<_> = diags.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(
        at,
        vec![(Some(1), Some(34)), (Some(4), Some(1)), (Some(2), Some(9))],
        "{diags:#?}"
    );
    assert!(diags[0]
        .message
        .starts_with("server.listen[1] = \"x\" is not an ADDR:PORT"));
}

#[test]
fn cross_key_problem_on_a_defaulted_key_points_at_its_table() {
    // queue_max_ms keeps its default (5000) and so has no line; its table does.
    let mut c: Config = toml::from_str("[play]\nwrite_merge_ms = 900\n").unwrap();
    c.play.queue_max_ms = 800;
    let loc = Locator::new("\n[play]\nwrite_merge_ms = 900\n");
    let d = loc.diagnose(&c.validate()[0]);
    assert_eq!((d.line, d.column), (Some(2), Some(2)));
    let none = Locator::new("").diagnose(&c.validate()[0]);
    assert_eq!(none.line, None);
    assert!(none
        .to_string()
        .starts_with("play.queue_max_ms = 800 must be larger"));
}

#[test]
fn line_col_counts_characters_and_clamps() {
    let text = "a\nxé = 1\n";
    assert_eq!(line_col(text, 0), (1, 1));
    assert_eq!(line_col(text, 2), (2, 1));
    assert_eq!(line_col(text, 5), (2, 3)); // after the two-byte é
    assert_eq!(line_col(text, 4), (2, 2)); // inside é: floor to its start
    assert_eq!(line_col(text, 999), (3, 1));
}

#[test]
fn nearest_only_suggests_close_names() {
    let known: Vec<String> = ["shards", "listen", "chunk_size"].map(String::from).into();
    assert_eq!(nearest("shard", &known), Some("shards"));
    assert_eq!(nearest("chunksize", &known), Some("chunk_size"));
    assert_eq!(nearest("port", &known), None);
    assert_eq!(nearest("listen", &known), None);
}

#[test]
fn diagnostic_display_without_location() {
    let d = Diagnostic {
        file: None,
        line: None,
        column: None,
        message: "m".into(),
    };
    assert_eq!(d.to_string(), "m");
    assert_eq!(d.with_file("f.toml").to_string(), "f.toml: m");
}

#[test]
fn every_unknown_key_and_wrong_type_is_reported_not_only_the_first() {
    let text = "[server]\nshard = 2\nchunk_size = \"big\"\n\
                [plya]\nx = 1\n\
                [play]\nwrite_merg_ms = 5\ngop_cache = 1\nqueue_max_ms = 100\n";
    let diags = check_text(text);
    let got: Vec<_> = diags
        .iter()
        .map(|d| {
            (
                d.line.unwrap(),
                d.message.split(':').next().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "[server] unknown field `shard`, expected one of `listen`, `shards`, `pin_shards`, `max_connections`, `chunk_size`, `window_ack_size`, `proxy_protocol`, `trusted_proxies`, `drain_timeout_ms`, `io`; did you mean `shards`?".to_owned()),
            (3, "server.chunk_size".to_owned()),
            (4, "unknown field `plya`, expected one of `server`, `socket`, `publish`, `play`, `timeouts`, `log`, `http`, `agent`, `hls`, `http_play`, `relay`, `limits`, `tls`; did you mean `play`?".to_owned()),
            (7, "[play] unknown field `write_merg_ms`, expected one of `write_merge_ms`, `adaptive_merge_max_ms`, `queue_max_ms`, `queue_max_bytes`, `kick_after_ms`, `gop_cache`, `write_stall_timeout_ms`; did you mean `write_merge_ms`?".to_owned()),
            (8, "play.gop_cache".to_owned()),
        ],
        "{diags:#?}"
    );
}

#[test]
fn table_list_matches_config() {
    let toml::Value::Table(all) = toml::Value::try_from(Config::default()).unwrap() else {
        panic!("config is not a table");
    };
    let mut names: Vec<&str> = all.keys().map(String::as_str).collect();
    let mut listed = TABLES.to_vec();
    names.sort_unstable();
    listed.sort_unstable();
    assert_eq!(names, listed);
}
