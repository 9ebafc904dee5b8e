//! The vocabulary every part shares: ids as newtypes, so a Miro item id can never be passed where a
//! monday item id is expected, and the Miro item types and fields the mapping layer understands.
//!
//! Ids are strings throughout. Miro's ids are int64 values that JavaScript-era clients mangle above
//! 2^53, and monday's ids are `ID` scalars in GraphQL; keeping both as text means nothing is ever
//! rounded on the way through.

pub mod change;
pub mod miro;

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A Miro board id, an opaque string such as `uXjVOD6LSME=`.
    MiroBoardId
);
string_id!(
    /// A Miro item id: an int64 carried as its decimal string.
    MiroItemId
);
string_id!(
    /// A monday.com board id: digits, carried as a string.
    MondayBoardId
);
string_id!(
    /// A monday.com item (pulse) id: digits, carried as a string.
    MondayItemId
);

/// A linked item's id on one side: known once the item exists there, or pending while the create
/// that makes it is in flight (`n` is the inbox entry whose change asked for it). How a pending id
/// is stored (and shown in `/api/*`) is the store's business: `store::links`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Linked<T> {
    Known(T),
    Pending(i64),
}

impl<T> Linked<T> {
    /// The id, once the item exists.
    pub fn known(&self) -> Option<&T> {
        match self {
            Linked::Known(id) => Some(id),
            Linked::Pending(_) => None,
        }
    }

    pub fn into_known(self) -> Option<T> {
        match self {
            Linked::Known(id) => Some(id),
            Linked::Pending(_) => None,
        }
    }
}

/// Which side of a pair something happened on, or is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Miro,
    Monday,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Miro => "miro",
            Side::Monday => "monday",
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Miro => Side::Monday,
            Side::Monday => Side::Miro,
        }
    }
}

impl std::str::FromStr for Side {
    type Err = String;

    fn from_str(s: &str) -> Result<Side, String> {
        match s {
            "miro" => Ok(Side::Miro),
            "monday" => Ok(Side::Monday),
            other => Err(format!("`{other}` is neither miro nor monday")),
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The URL slug of a pair name: lower case, every run of other characters a single `-`, no `-` at
/// either end. `"Sprint planning (Q3)"` becomes `sprint-planning-q3`.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_dash = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_lowercases_and_collapses_runs_of_other_characters() {
        assert_eq!(slug("Sprint planning"), "sprint-planning");
        assert_eq!(slug("  Q3 -- Roadmap!! "), "q3-roadmap");
        assert_eq!(slug("Ünïcode board"), "n-code-board");
        assert_eq!(slug("***"), "");
    }
}
