//! The value types tunables are written in: durations (`"30s"`, `"7d"`), sizes (`"1MiB"`) and
//! shares (a number from 0 to 1). Each deserializes from the file with an error that says what
//! was expected, which the loader places at the value's line and column.

use serde::{Deserialize, Deserializer, de};
use std::fmt;
use std::str::FromStr;

/// A span of time written as `"500ms"`, `"30s"`, `"5m"`, `"7d"`, `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub(crate) const fn from_secs(secs: u64) -> Duration {
        Duration(std::time::Duration::from_secs(secs))
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s).map(Duration).map_err(|e| {
            format!("`{s}` is not a duration ({e}); write it as \"30s\", \"5m\", \"12h\" or \"7d\"")
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A number of bytes written as `"1MiB"`, `"512KiB"`, `"2MB"` or `"1048576"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<bytesize::ByteSize>()
            .map(|b| ByteSize(b.as_u64()))
            .map_err(|_| {
                format!(
                    "`{s}` is not a size; write it as \"1MiB\", \"512KiB\" or a number of bytes"
                )
            })
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", bytesize::ByteSize(self.0).display().iec())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A fraction of a budget, from 0 to 1 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Share(pub f64);

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if (0.0..=1.0).contains(&v) {
            Ok(Share(v))
        } else {
            Err(de::Error::custom(format!(
                "{v} is not a share; write a number from 0 to 1, such as 0.5"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        d: Option<Duration>,
        b: Option<ByteSize>,
        s: Option<Share>,
    }

    fn doc(text: &str) -> Result<Doc, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn durations_read_as_people_write_them() {
        let secs = |t: &str| doc(&format!("d = \"{t}\"")).unwrap().d.unwrap().0.as_secs();
        assert_eq!(secs("30s"), 30);
        assert_eq!(secs("5m"), 300);
        assert_eq!(secs("7d"), 7 * 86_400);
        assert_eq!(secs("1h 30m"), 5_400);
    }

    #[test]
    fn a_bad_duration_says_how_to_write_one() {
        let err = doc("d = \"soon\"").err().unwrap();
        assert!(
            err.message().contains("not a duration"),
            "{}",
            err.message()
        );
        assert!(err.span().is_some());
    }

    #[test]
    fn sizes_accept_binary_and_decimal_units() {
        assert_eq!(doc("b = \"1MiB\"").unwrap().b, Some(ByteSize(1 << 20)));
        assert_eq!(doc("b = \"2KB\"").unwrap().b, Some(ByteSize(2_000)));
        assert!(doc("b = \"lots\"").is_err());
        assert_eq!(ByteSize(1 << 20).to_string(), "1.0 MiB");
    }

    #[test]
    fn shares_must_lie_between_zero_and_one() {
        assert_eq!(doc("s = 0.5").unwrap().s, Some(Share(0.5)));
        assert_eq!(doc("s = 1.0").unwrap().s, Some(Share(1.0)));
        let err = doc("s = 1.5").err().unwrap();
        assert!(err.message().contains("not a share"), "{}", err.message());
    }
}
