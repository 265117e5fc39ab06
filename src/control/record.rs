//! The recording part of an `[[app]]` table: `record = { dir = "...", format = "flv",
//! split_after_s = 600, max_queue_bytes = ... }`, or the flat keys `record_dir`,
//! `record_format`, `record_split_s`, `record_max_queue_bytes` (one form per table), their
//! checks, and their resolution into [`RecordApps`] for the shards.
//!
//! Defaults live here, in `RecordConfig`'s `Default`, and nowhere else. No I/O: a directory
//! that cannot be written shows at the first recording, as a logged error that stops only
//! that recording.
use super::config::Config;
use super::relay::AppConfig;
use super::validate::ConfigProblem;
use crate::record::{RecordApps, RecordFormat, RecordSettings};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// `record = { ... }` in an `[[app]]` table: the app's streams are written to files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordConfig {
    /// Files go to `DIR/APP/STREAM/STREAM-YYYYMMDD-HHMMSS.flv` (UTC); an absolute path.
    pub dir: String,
    /// `flv` or `mp4` (fragmented MP4).
    pub format: RecordFormat,
    /// A file ends at the first keyframe this many seconds (media time) after it began;
    /// 0 = one file per publish.
    pub split_after_s: u64,
    /// Bytes per stream handed to the recorder thread and not yet written beyond which the
    /// recording stops (the disk cannot keep up); bounds the memory a slow disk can take.
    pub max_queue_bytes: usize,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            dir: "/var/lib/rtmp-edge/rec".to_owned(),
            format: RecordFormat::Flv,
            split_after_s: 600,
            max_queue_bytes: 64 << 20,
        }
    }
}

/// Longest split duration accepted: a week.
const MAX_SPLIT_S: u64 = 7 * 86_400;
const MIN_QUEUE: usize = 64 << 10;
const MAX_QUEUE: usize = 1 << 30;

impl AppConfig {
    /// How this app records, from whichever form its table uses; None: it does not.
    pub fn recording(&self) -> Option<RecordConfig> {
        if let Some(table) = &self.record {
            return Some(table.clone());
        }
        let dir = self.record_dir.clone()?;
        let d = RecordConfig::default();
        Some(RecordConfig {
            dir,
            format: self.record_format.unwrap_or(d.format),
            split_after_s: self.record_split_s.unwrap_or(d.split_after_s),
            max_queue_bytes: self.record_max_queue_bytes.unwrap_or(d.max_queue_bytes),
        })
    }

    fn has_flat_record_keys(&self) -> bool {
        self.record_dir.is_some()
            || self.record_format.is_some()
            || self.record_split_s.is_some()
            || self.record_max_queue_bytes.is_some()
    }
}

impl Config {
    /// The recording settings of every `[[app]]` table, for the shards.
    pub fn record_apps(&self) -> RecordApps {
        RecordApps {
            apps: self
                .apps
                .iter()
                .map(|a| {
                    let settings = a.recording().map(|r| {
                        Arc::new(RecordSettings {
                            dir: r.dir.into(),
                            format: r.format,
                            split_after: (r.split_after_s > 0)
                                .then(|| Duration::from_secs(r.split_after_s)),
                            max_queue_bytes: r.max_queue_bytes,
                        })
                    });
                    (a.name.clone(), settings)
                })
                .collect(),
        }
    }

    /// Problems in the recording keys of the `[[app]]` tables.
    pub(crate) fn validate_record(&self, out: &mut Vec<ConfigProblem>) {
        for app in &self.apps {
            let problem = |key: &'static str, value: String, why: &str| ConfigProblem {
                key,
                index: None,
                value,
                reason: format!("(in [[app]] {:?}) {why}", app.name),
            };
            if app.record.is_some() && app.has_flat_record_keys() {
                out.push(problem(
                    "app.record",
                    "{...}".to_owned(),
                    "is given with record_* keys as well: use either the record table or \
                     the record_* keys",
                ));
            }
            if app.record.is_none() && app.record_dir.is_none() && app.has_flat_record_keys() {
                out.push(problem(
                    "app.record_dir",
                    "(missing)".to_owned(),
                    "must be set for the record_* keys to record anything",
                ));
            }
            let Some(r) = app.recording() else {
                continue;
            };
            if r.dir.is_empty() || r.dir.contains('\0') || !Path::new(&r.dir).is_absolute() {
                out.push(problem(
                    "app.record.dir",
                    format!("{:?}", r.dir),
                    "must be an absolute directory path, like \"/var/lib/rtmp-edge/rec\"",
                ));
            }
            if r.split_after_s > MAX_SPLIT_S {
                out.push(problem(
                    "app.record.split_after_s",
                    r.split_after_s.to_string(),
                    &format!(
                        "is out of range: must be 0..={MAX_SPLIT_S} (s), 0 = never split; \
                         the default is {}",
                        RecordConfig::default().split_after_s
                    ),
                ));
            }
            if !(MIN_QUEUE..=MAX_QUEUE).contains(&r.max_queue_bytes) {
                out.push(problem(
                    "app.record.max_queue_bytes",
                    r.max_queue_bytes.to_string(),
                    &format!(
                        "is out of range: must be {MIN_QUEUE}..={MAX_QUEUE} (bytes); the \
                         default is {}",
                        RecordConfig::default().max_queue_bytes
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let c: Config = toml::from_str(text).unwrap();
        c.validate().iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn both_forms_resolve_with_the_defaults() {
        let c = Config::from_toml_str(
            "[[app]]\nname = \"live\"\nrecord = { dir = \"/rec\", split_after_s = 60 }\n\
             [[app]]\nname = \"flat\"\nrecord_dir = \"/flat\"\nrecord_split_s = 0\n\
             [[app]]\nname = \"off\"\n",
        )
        .unwrap();
        let apps = c.record_apps();
        let live = apps.app("live").unwrap();
        assert_eq!(live.dir, Path::new("/rec"));
        assert_eq!(live.split_after, Some(Duration::from_secs(60)));
        assert_eq!(live.max_queue_bytes, 64 << 20);
        assert_eq!(live.format, RecordFormat::Flv);
        let flat = apps.app("flat").unwrap();
        assert_eq!((flat.dir.to_str(), flat.split_after), (Some("/flat"), None));
        assert!(apps.app("off").is_none());
        assert!(apps.app("unlisted").is_none());
        assert!(c.shard_settings().record.app("live").is_some());
        assert!(Config::default().record_apps().apps.is_empty());
    }

    #[test]
    fn bad_values_are_explained() {
        let p = problems("[[app]]\nname = \"live\"\nrecord = { dir = \"rel/dir\" }\n");
        assert_eq!(
            p,
            [
                "app.record.dir = \"rel/dir\" (in [[app]] \"live\") must be an absolute directory \
              path, like \"/var/lib/rtmp-edge/rec\""
            ]
        );
        let p = problems("[[app]]\nrecord = { dir = \"/rec\", format = \"mp4\" }\n");
        assert!(p.is_empty(), "mp4 is a valid format: {p:?}");
        let p = problems(
            "[[app]]\nrecord_dir = \"/r\"\nrecord_split_s = 999999999\n\
             record_max_queue_bytes = 10\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].starts_with("app.record.split_after_s = 999999999"),
            "{p:?}"
        );
        assert!(p[1].starts_with("app.record.max_queue_bytes = 10"), "{p:?}");
        let p = problems("[[app]]\nrecord = {}\nrecord_dir = \"/r\"\n");
        assert!(p[0].starts_with("app.record = {...}"), "{p:?}");
        let p = problems("[[app]]\nrecord_format = \"flv\"\n");
        assert!(p[0].starts_with("app.record_dir = (missing)"), "{p:?}");
        // Unknown keys and formats fail the parse.
        assert!(Config::from_toml_str("[[app]]\nrecord = { dri = \"/r\" }\n").is_err());
        assert!(Config::from_toml_str("[[app]]\nrecord_format = \"avi\"\n").is_err());
    }
}
