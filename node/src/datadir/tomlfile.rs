//! TOML file helpers for config.toml and roster.toml: problems reported as `FILE:LINE:COLUMN: what`.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem found at a place in a TOML file, printed as `FILE:LINE:COLUMN: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    path: PathBuf,
    position: Option<(usize, usize)>,
    message: String,
}

impl FileProblem {
    /// A problem at byte `offset` of `text`, the contents of `path`.
    pub(crate) fn at(path: &Path, text: &str, offset: usize, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            position: Some(line_column(text, offset)),
            message: message.into(),
        }
    }

    /// A problem with the file as a whole.
    pub(crate) fn whole(path: &Path, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            position: None,
            message: message.into(),
        }
    }

    /// A toml parse or type error, located where toml says.
    pub(crate) fn from_toml(path: &Path, text: &str, err: &toml::de::Error) -> Self {
        let message = err.message().trim_end().to_owned();
        match err.span() {
            Some(span) => Self::at(path, text, span.start, message),
            None => Self::whole(path, message),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 1-based line number, if the problem has a place.
    pub fn line(&self) -> Option<usize> {
        self.position.map(|(line, _)| line)
    }

    /// What is wrong and what to do.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(
                f,
                "{}:{line}:{column}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for FileProblem {}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// `s` as a TOML basic string, quoted and escaped.
pub(crate) fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn display_names_file_line_column() {
        let p = FileProblem::at(Path::new("/d/roster.toml"), "x\ny = 1", 4, "bad");
        assert_eq!(p.to_string(), "/d/roster.toml:2:3: bad");
        assert_eq!(p.line(), Some(2));
    }

    #[test]
    fn quote_round_trips() {
        for s in ["plain", "a\"b", "it's", "tab\there", "ünï"] {
            let doc: toml::Table = toml::from_str(&format!("x = {}", quote(s))).unwrap();
            assert_eq!(doc["x"].as_str(), Some(s));
        }
    }
}
