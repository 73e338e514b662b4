//! `jim.toml.example` lists every key, each with a comment, at its real default.

use std::collections::BTreeSet;

use jim::Config;

fn example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/jim.toml.example")).unwrap()
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeSet<String>) {
    for (k, v) in table {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(t) => flatten(&path, t, out),
            _ => {
                out.insert(path);
            }
        }
    }
}

#[test]
fn example_values_equal_the_built_in_defaults() {
    let parsed: toml::Table = example().parse().expect("example is valid TOML");
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    assert_eq!(parsed, defaults, "jim.toml.example drifted from Config::default()");
}

#[test]
fn example_lists_every_known_key() {
    let parsed: toml::Table = example().parse().unwrap();
    let mut listed = BTreeSet::new();
    flatten("", &parsed, &mut listed);
    assert_eq!(listed, jim::config::known_keys());
}

#[test]
fn every_key_in_the_example_has_a_comment_above_it() {
    let text = example();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with('[') {
            continue;
        }
        assert!(i > 0 && lines[i - 1].trim_start().starts_with('#'), "no comment above {t:?}");
    }
}
