//! How problems in a mappings file are collected and told: each with its file, line and column.
//! Loading and the checks both report here, so neither needs the other to say what is wrong.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One thing wrong with a mappings file, with where it is when that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line and column.
    pub at: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found in a mappings file, in the order they appear in it.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl ConfigError {
    pub(crate) fn single(file: &Path, message: String) -> ConfigError {
        ConfigError {
            problems: vec![Problem {
                file: file.to_owned(),
                at: None,
                message,
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Collects problems against the file's text, turning byte offsets into lines and columns.
pub(crate) struct Report<'a> {
    file: &'a Path,
    text: &'a str,
    problems: Vec<(usize, Problem)>,
}

impl<'a> Report<'a> {
    pub(super) fn new(file: &'a Path, text: &'a str) -> Self {
        Report {
            file,
            text,
            problems: Vec::new(),
        }
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text[..offset].matches('\n').count() + 1
    }

    /// A problem at byte `span.start` of the file.
    pub(crate) fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let offset = span.start.min(self.text.len());
        let before = &self.text[..offset];
        let line = self.line_of(offset);
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        self.problems.push((
            offset,
            Problem {
                file: self.file.to_owned(),
                at: Some((line, col)),
                message: message.into(),
            },
        ));
    }

    /// A problem that belongs to no place in the file (an environment override, say).
    pub(crate) fn general(&mut self, message: impl Into<String>) {
        self.problems.push((
            usize::MAX,
            Problem {
                file: self.file.to_owned(),
                at: None,
                message: message.into(),
            },
        ));
    }

    pub(super) fn toml_error(&mut self, err: &toml::de::Error, fallback: Range<usize>) {
        let message = err.message().trim().to_owned();
        self.at(err.span().unwrap_or(fallback), message);
    }

    pub(super) fn finish(mut self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            return Ok(());
        }
        self.problems.sort_by_key(|(offset, _)| *offset);
        self.problems.dedup_by(|a, b| a.1 == b.1);
        Err(ConfigError {
            problems: self.problems.into_iter().map(|(_, p)| p).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_print_as_file_line_column_message() {
        let text = "a = 1\nbb = 2\n";
        let mut report = Report::new(Path::new("m.toml"), text);
        report.at(7..8, "wrong");
        let err = report.finish().unwrap_err();
        assert_eq!(err.to_string(), "m.toml:2:2: wrong");
    }
}
