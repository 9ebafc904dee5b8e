//! The vocabulary every part shares: ids as newtypes, so a Miro item id can never be passed where a
//! monday item id is expected, and the Miro item types and fields the mapping layer understands.
//!
//! Ids are strings throughout. Miro's ids are int64 values that JavaScript-era clients mangle above
//! 2^53, and monday's ids are `ID` scalars in GraphQL; keeping both as text means nothing is ever
//! rounded on the way through.

pub(crate) mod change;
pub(crate) mod miro;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
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

/// What a URL path segment (or query value) keeps as it is: RFC 3986's unreserved characters.
/// Everything else is percent-encoded, `/` and `=` included, and a space is `%20` (form
/// encoding's `+` would reach Miro as a plus sign).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An id as a URL path segment, percent-encoded (Miro board ids end in `=`).
pub(crate) fn path_segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

/// The item's page on Miro.
pub(crate) fn miro_item_url(board: &MiroBoardId, item: &MiroItemId) -> String {
    format!(
        "https://miro.com/app/board/{}/?moveToWidget={}",
        path_segment(board.as_str()),
        path_segment(item.as_str())
    )
}

/// The item's page on monday (monday sends a signed-in person on to their account's address).
pub(crate) fn monday_item_url(board: &MondayBoardId, item: &MondayItemId) -> String {
    format!(
        "https://monday.com/boards/{}/pulses/{}",
        path_segment(board.as_str()),
        path_segment(item.as_str())
    )
}

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

/// An item id of one side or the other, the side told by the type.
pub(crate) trait ItemId: AsRef<str> {
    const SIDE: Side;
}

impl ItemId for MiroItemId {
    const SIDE: Side = Side::Miro;
}

impl ItemId for MondayItemId {
    const SIDE: Side = Side::Monday;
}

/// Where a write goes: a side, and the item there once it exists (`None` while it is to be
/// created).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Miro(Option<MiroItemId>),
    Monday(Option<MondayItemId>),
}

impl Target {
    /// The target as the store keeps it: a side and an untyped id.
    pub(crate) fn new(side: Side, item: Option<String>) -> Target {
        match side {
            Side::Miro => Target::Miro(item.map(MiroItemId)),
            Side::Monday => Target::Monday(item.map(MondayItemId)),
        }
    }

    pub(crate) fn side(&self) -> Side {
        match self {
            Target::Miro(_) => Side::Miro,
            Target::Monday(_) => Side::Monday,
        }
    }

    /// The item's id as text, once it exists.
    pub(crate) fn item(&self) -> Option<&str> {
        match self {
            Target::Miro(id) => id.as_ref().map(MiroItemId::as_str),
            Target::Monday(id) => id.as_ref().map(MondayItemId::as_str),
        }
    }

    /// The same side, with `item` when this target has none yet.
    pub(crate) fn or(self, other: Target) -> Target {
        match (self, other) {
            (Target::Miro(None), Target::Miro(id)) => Target::Miro(id),
            (Target::Monday(None), Target::Monday(id)) => Target::Monday(id),
            (t, _) => t,
        }
    }
}

/// `miro 3458764517517819000`, or `monday (to create)`.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.item() {
            Some(id) => write!(f, "{} {id}", self.side()),
            None => write!(f, "{} (to create)", self.side()),
        }
    }
}

/// Which side of a pair something happened on, or is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Side {
    Miro,
    Monday,
}

impl Side {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Side::Miro => "miro",
            Side::Monday => "monday",
        }
    }

    pub(crate) fn other(self) -> Side {
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
pub(crate) fn slug(name: &str) -> String {
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

    #[test]
    fn item_urls_percent_encode_ids_as_path_segments() {
        assert_eq!(
            miro_item_url(&"uXjVOD6lB3o=".into(), &"3458764517517852417".into()),
            "https://miro.com/app/board/uXjVOD6lB3o%3D/?moveToWidget=3458764517517852417"
        );
        assert_eq!(
            monday_item_url(&"1234".into(), &"a b/c+d".into()),
            "https://monday.com/boards/1234/pulses/a%20b%2Fc%2Bd"
        );
    }

    #[test]
    fn a_target_keeps_its_side_and_takes_an_item_only_from_the_same_side() {
        let to_create = Target::new(Side::Miro, None);
        assert_eq!(to_create.side(), Side::Miro);
        assert_eq!(to_create.item(), None);
        assert_eq!(to_create.to_string(), "miro (to create)");
        let known = to_create.clone().or(Target::Miro(Some("7".into())));
        assert_eq!(known.item(), Some("7"));
        assert_eq!(known.to_string(), "miro 7");
        // A monday id never fills a Miro target, and a known id is kept.
        assert_eq!(
            to_create.clone().or(Target::Monday(Some("8".into()))),
            to_create
        );
        assert_eq!(known.clone().or(Target::Miro(Some("9".into()))), known);
        assert_eq!(
            Target::new(Side::Monday, Some("8".into())),
            Target::Monday(Some("8".into()))
        );
    }
}
