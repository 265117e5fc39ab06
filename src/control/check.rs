//! Turns configuration problems into [`Diagnostic`]s that point at a line and column of the
//! file: syntax, type and unknown-key errors from the TOML parser, and the semantic
//! [`ConfigProblem`]s of `validate`.
//!
//! The typed parse (`toml::from_str::<Config>`) stops at the first error and keeps no
//! positions, so the text is also read into a *shadow*: maps keyed by `toml::Spanned` names
//! holding `toml::Spanned` values, which is what lets a semantic problem find its key's line.
//! The shadow is best effort: if it cannot be built, diagnostics simply lack a location.
//!
//! No I/O. Call order: [`parse`] (typed parse + [`Locator`]) -> `Config::validate` ->
//! [`Locator::diagnose`] per problem. [`check_text`] and [`parse_checked`] do all three.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::config::{Config, ConfigError};
use super::validate::{limit_for, ConfigProblem, LEVELS};

/// One problem in a configuration text, located when possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name to print before the location; `None` for text without a file.
    pub file: Option<String>,
    /// 1-based line of the offending key or value.
    pub line: Option<usize>,
    /// 1-based column, counted in characters.
    pub column: Option<usize>,
    /// Plain-English explanation, including the valid range or values and the default.
    pub message: String,
}

impl Diagnostic {
    /// The same diagnostic, printed with `file` before its location.
    pub fn with_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}:")?;
        }
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{l}:{c}:")?,
            (Some(l), None) => write!(f, "{l}:")?,
            _ => {}
        }
        if self.file.is_some() || self.line.is_some() {
            f.write_str(" ")?;
        }
        f.write_str(&self.message)
    }
}

type ShadowTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize)]
struct ListenShadow {
    server: Option<ListenServer>,
}

#[derive(Deserialize)]
struct ListenServer {
    listen: Option<Vec<Spanned<String>>>,
}

struct Entry {
    /// Dotted `table.key`.
    key: String,
    key_span: Range<usize>,
    value_span: Range<usize>,
    value: toml::Value,
}

/// Where each key, value, table and `server.listen` element sits in one text.
pub(crate) struct Locator<'a> {
    text: &'a str,
    tables: Vec<(String, Range<usize>)>,
    entries: Vec<Entry>,
    listen: Vec<Range<usize>>,
}

impl<'a> Locator<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut loc = Locator {
            text,
            tables: Vec::new(),
            entries: Vec::new(),
            listen: Vec::new(),
        };
        if let Ok(shadow) = toml::from_str::<BTreeMap<Spanned<String>, ShadowTable>>(text) {
            for (table, items) in shadow {
                for (key, value) in items {
                    loc.entries.push(Entry {
                        key: format!("{}.{}", table.get_ref(), key.get_ref()),
                        key_span: key.span(),
                        value_span: value.span(),
                        value: value.into_inner(),
                    });
                }
                loc.tables.push((table.get_ref().clone(), table.span()));
            }
        }
        if let Ok(ListenShadow {
            server: Some(ListenServer { listen: Some(list) }),
        }) = toml::from_str(text)
        {
            loc.listen = list.iter().map(Spanned::span).collect();
        }
        loc
    }

    /// The diagnostic for a semantic problem: at the array element, else the key, else the
    /// table header, else unlocated (the key was never written, it kept its default).
    pub(crate) fn diagnose(&self, p: &ConfigProblem) -> Diagnostic {
        let element = p
            .index
            .filter(|_| p.key == "server.listen")
            .and_then(|i| self.listen.get(i).cloned());
        let key = || self.entry(p.key).map(|e| e.key_span.clone());
        let table = || {
            let name = p.key.split('.').next().unwrap_or_default();
            self.tables
                .iter()
                .find(|(t, _)| t == name)
                .map(|(_, s)| s.clone())
        };
        self.at(element.or_else(key).or_else(table), p.to_string())
    }

    fn entry(&self, dotted: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == dotted)
    }

    fn at(&self, span: Option<Range<usize>>, message: String) -> Diagnostic {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(self.text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        Diagnostic {
            file: None,
            line,
            column,
            message,
        }
    }

    /// Explains a parser error, naming the key it concerns and what that key accepts.
    fn parse_error(&self, err: &toml::de::Error) -> Diagnostic {
        let msg = plain_message(err.message());
        match err.span() {
            Some(span) => self.explain(msg, span),
            None => self.at(None, msg),
        }
    }

    fn explain(&self, msg: String, span: Range<usize>) -> Diagnostic {
        if msg.starts_with("unknown field") {
            // The span covers the misspelt key; name its table and suggest the nearest key.
            let entry = self.entries.iter().find(|e| e.key_span == span);
            let table = entry.and_then(|e| e.key.split_once('.')).map(|(t, _)| t);
            let known = known_keys(table);
            let mut text = match table {
                Some(t) => format!("[{t}] {msg}"),
                None => msg,
            };
            let spelled = self.text.get(span.clone()).unwrap_or_default();
            let bare = spelled.trim_matches(|c| c == '"' || c == '\'');
            if let Some(best) = nearest(bare, &known) {
                text.push_str(&format!("; did you mean `{best}`?"));
            }
            return self.at(Some(span), text);
        }
        let text = match self.entries.iter().find(|e| contains(&e.value_span, &span)) {
            Some(e) => match hint(&e.key) {
                Some(h) => format!("{}: {msg}; it takes {h}", e.key),
                None => format!("{}: {msg}", e.key),
            },
            None => msg,
        };
        self.at(Some(span), text)
    }

    /// The parser stops at its first error; this finds the other unknown keys and wrong
    /// types by deserializing each key of the shadow on its own. `first` is the parser's
    /// error span, already reported.
    fn other_errors(&self, first: Option<Range<usize>>) -> Vec<Diagnostic> {
        let is_first = |s: &Range<usize>| first.as_ref().is_some_and(|f| s == f || contains(s, f));
        let tables = known_keys(None);
        let mut out = Vec::new();
        for (table, span) in &self.tables {
            if !tables.contains(table) && !is_first(span) {
                let msg = format!(
                    "unknown field `{table}`, expected one of {}",
                    quoted(&tables)
                );
                out.push(self.explain(msg, span.clone()));
            }
        }
        for e in &self.entries {
            let Some((table, key)) = e.key.split_once('.') else {
                continue;
            };
            if !tables.iter().any(|t| t == table)
                || is_first(&e.key_span)
                || is_first(&e.value_span)
            {
                continue;
            }
            let mut one = toml::Table::new();
            one.insert(key.to_owned(), e.value.clone());
            let mut doc = toml::Table::new();
            doc.insert(table.to_owned(), toml::Value::Table(one));
            if let Err(err) = Config::deserialize(toml::Value::Table(doc)) {
                let msg = plain_message(err.message());
                let span = if msg.starts_with("unknown field") {
                    e.key_span.clone()
                } else {
                    e.value_span.clone()
                };
                out.push(self.explain(msg, span));
            }
        }
        out
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn quoted(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    q.join(", ")
}

/// Typed parse plus the locator for its text. Syntax, type and unknown-key errors come back
/// as located diagnostics, in file order; semantic rules are not checked here.
pub(crate) fn parse(text: &str) -> Result<(Config, Locator<'_>), Vec<Diagnostic>> {
    let loc = Locator::new(text);
    match toml::from_str::<Config>(text) {
        Ok(config) => Ok((config, loc)),
        Err(err) => {
            let mut all = vec![loc.parse_error(&err)];
            all.extend(loc.other_errors(err.span()));
            all.sort_by_key(|d| (d.line.is_none(), d.line, d.column));
            Err(all)
        }
    }
}

/// Every problem in `text`; empty when it is a valid configuration.
pub(crate) fn check_text(text: &str) -> Vec<Diagnostic> {
    match parse(text) {
        Ok((config, loc)) => config.validate().iter().map(|p| loc.diagnose(p)).collect(),
        Err(all) => all,
    }
}

/// Parse and validate; `file` names the text in the diagnostics.
pub(crate) fn parse_checked(text: &str, file: Option<&str>) -> Result<Config, ConfigError> {
    let name = |d: Diagnostic| match file {
        Some(f) => d.with_file(f),
        None => d,
    };
    let (config, loc) = parse(text).map_err(|all| ConfigError::Invalid {
        diagnostics: all.into_iter().map(name).collect(),
    })?;
    let problems = config.validate();
    if problems.is_empty() {
        return Ok(config);
    }
    let diagnostics = problems.iter().map(|p| name(loc.diagnose(p))).collect();
    Err(ConfigError::Invalid { diagnostics })
}

/// The parser's message on one line, with Rust type names put in TOML terms.
fn plain_message(msg: &str) -> String {
    let lines: Vec<&str> = msg
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let joined = lines.join("; ");
    match joined.find("expected struct ") {
        Some(at) => {
            let rest = &joined[at + "expected struct ".len()..];
            let tail = rest
                .find(|c: char| !c.is_alphanumeric())
                .map_or("", |i| &rest[i..]);
            format!("{}expected a table{tail}", &joined[..at])
        }
        None => joined,
    }
}

/// 1-based line and character column of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

fn default_value(dotted: &str) -> Option<toml::Value> {
    let (table, key) = dotted.split_once('.')?;
    let all = toml::Value::try_from(Config::default()).ok()?;
    all.get(table)?.get(key).cloned()
}

/// What a key accepts and its default, for type errors.
fn hint(dotted: &str) -> Option<String> {
    let default = default_value(dotted)?;
    if let Some(l) = limit_for(dotted) {
        return Some(format!(
            "an integer in {}; the default is {default}",
            l.range_text()
        ));
    }
    Some(match default {
        toml::Value::Boolean(_) => format!("true or false; the default is {default}"),
        toml::Value::Array(_) => {
            format!("an array of \"ADDR:PORT\" strings; the default is {default}")
        }
        toml::Value::String(_) if dotted == "log.level" => {
            format!(
                "a string, one of {}; the default is {default}",
                LEVELS.join(", ")
            )
        }
        _ => format!("the default is {default}"),
    })
}

/// The tables of [`Config`], in the order serde reports them.
const TABLES: &[&str] = &[
    "server",
    "socket",
    "publish",
    "play",
    "timeouts",
    "log",
    "http",
    "agent",
    "hls",
    "http_play",
    "relay",
    "limits",
    "tls",
];

/// Keys of one table, or the table names when `table` is `None`.
fn known_keys(table: Option<&str>) -> Vec<String> {
    let Ok(toml::Value::Table(all)) = toml::Value::try_from(Config::default()) else {
        return Vec::new();
    };
    match table {
        None => TABLES.iter().map(|t| t.to_string()).collect(),
        Some(t) => match all.get(t) {
            Some(toml::Value::Table(keys)) => keys.keys().cloned().collect(),
            _ => Vec::new(),
        },
    }
}

/// The known name closest to a misspelling, if it is close enough to be what was meant.
fn nearest<'k>(word: &str, known: &'k [String]) -> Option<&'k str> {
    let (best, dist) = known
        .iter()
        .map(|k| (k, edit_distance(word, k)))
        .min_by_key(|&(_, d)| d)?;
    (dist > 0 && dist <= 1 + word.chars().count() / 4).then_some(best.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
