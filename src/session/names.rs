//! What a stream or app name may be. Names become stream keys (`app/name`), log fields and
//! metric labels, and operators map them to files and URLs, so names that look like paths
//! out of a directory, carry control characters or run long are refused at the request, with
//! a status the client can read. Names that were not UTF-8 on the wire are refused too: the
//! AMF decoder keeps such text with U+FFFD in place of each invalid sequence (metadata
//! stays readable), and a name with U+FFFD is refused here rather than mapped onto another
//! stream's name (`cam\xFFx` and `cam\xFEx` would otherwise be one stream). A publish or play
//! before createStream is refused the same way ([`Refusal`]). Pure functions; no I/O.

/// Why the session refused a publish or play itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("stream name refused: {0}")]
    Name(NameProblem),
    #[error("publish or play before createStream")]
    BeforeCreateStream,
}

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("name is empty")]
    Empty,
    #[error("name is longer than {0} bytes")]
    TooLong(usize),
    #[error("name contains a control character")]
    ControlCharacter,
    #[error("name is not valid UTF-8")]
    NotUtf8,
    #[error("name contains a '.' or '..' path segment or a backslash")]
    PathTrick,
}

/// Checks `name` (without its `?query`) against the rules above; `max_bytes` bounds its
/// length. Slashes inside a name are allowed (`app/sub/stream` layouts use them), but no
/// segment may be `.` or `..`, and the name may not start with `/`.
pub fn check_name(name: &str, max_bytes: usize) -> Result<(), NameProblem> {
    if name.is_empty() {
        return Err(NameProblem::Empty);
    }
    if name.len() > max_bytes {
        return Err(NameProblem::TooLong(max_bytes));
    }
    if name.contains(char::REPLACEMENT_CHARACTER) {
        return Err(NameProblem::NotUtf8);
    }
    if name.chars().any(char::is_control) {
        return Err(NameProblem::ControlCharacter);
    }
    if name.starts_with('/')
        || name.contains('\\')
        || name.split('/').any(|s| s == "." || s == "..")
    {
        return Err(NameProblem::PathTrick);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass_and_tricks_do_not() {
        for ok in [
            "stream",
            "cam-1_hd",
            "sub/stream",
            "a.b",
            "...x",
            "Ünïcode名",
        ] {
            assert_eq!(check_name(ok, 64), Ok(()), "{ok}");
        }
        let long = "x".repeat(10_000);
        for (bad, why) in [
            ("", NameProblem::Empty),
            (long.as_str(), NameProblem::TooLong(64)),
            ("a\0b", NameProblem::ControlCharacter),
            ("a\nb", NameProblem::ControlCharacter),
            ("cam\u{fffd}x", NameProblem::NotUtf8),
            ("../etc/passwd", NameProblem::PathTrick),
            ("a/../../b", NameProblem::PathTrick),
            ("./a", NameProblem::PathTrick),
            ("/abs", NameProblem::PathTrick),
            ("a\\..\\b", NameProblem::PathTrick),
        ] {
            assert_eq!(check_name(bad, 64), Err(why), "{bad:?}");
        }
    }
}
