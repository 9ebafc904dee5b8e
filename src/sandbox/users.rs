//! Who is calling: each token is one acting user, so a test can edit "as a person" with one token
//! while boardsync writes with its own, and both APIs report who made each change.
//!
//! Out of the box `sandbox-NAME` is the user NAME and `sandbox-app-NAME` an app (OAuth) token of
//! that user; the seed file may add tokens of any form. A user's ids are derived from the name, so
//! they are the same on every run.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// An app (OAuth) token: monday webhooks created with it carry a JWT.
    pub app: bool,
    /// The Miro user id: an int64 above 2^53, as Miro's are, carried as a string.
    pub miro_id: String,
    /// The monday user id: a positive integer within 2^53, as monday's are.
    pub monday_id: i64,
    /// The monday account the user belongs to.
    pub monday_account_id: i64,
}

/// A token the seed file adds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub token: String,
    pub name: String,
    #[serde(default)]
    pub app: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Users {
    seeded: HashMap<String, User>,
}

impl Users {
    pub(crate) fn new(seed: &[SeedUser]) -> Users {
        Users {
            seeded: seed
                .iter()
                .map(|u| (u.token.clone(), User::named(&u.name, u.app)))
                .collect(),
        }
    }

    /// The user a token stands for, or `None` (the API answers 401).
    pub(crate) fn resolve(&self, token: &str) -> Option<User> {
        if let Some(user) = self.seeded.get(token) {
            return Some(user.clone());
        }
        if let Some(name) = token.strip_prefix("sandbox-app-") {
            return valid_name(name).then(|| User::named(name, true));
        }
        let name = token.strip_prefix("sandbox-")?;
        valid_name(name).then(|| User::named(name, false))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

impl User {
    pub fn named(name: &str, app: bool) -> User {
        let digest = Sha256::digest(name.as_bytes());
        let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        User {
            name: name.to_owned(),
            app,
            // 3458764xxxxxxxxxxxx: the range real Miro user ids fall in.
            miro_id: (3_458_764_000_000_000_000u64 + n % 1_000_000_000_000).to_string(),
            monday_id: 10_000_000 + (n % 89_999_999) as i64,
            monday_account_id: 1_000_000 + (n >> 40) as i64 % 8_999_999,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_tokens_name_their_user_and_ids_are_stable() {
        let users = Users::default();
        let alice = users.resolve("sandbox-alice").unwrap();
        assert_eq!(alice.name, "alice");
        assert!(!alice.app);
        assert_eq!(users.resolve("sandbox-alice"), Some(alice.clone()));
        let app = users.resolve("sandbox-app-alice").unwrap();
        assert!(app.app);
        assert_eq!(
            app.monday_id, alice.monday_id,
            "an app token acts as its user"
        );
        assert_ne!(
            users.resolve("sandbox-bob").unwrap().monday_id,
            alice.monday_id
        );
        assert!(alice.miro_id.parse::<u64>().unwrap() > 1 << 53);
    }

    #[test]
    fn other_tokens_are_refused_unless_seeded() {
        let users = Users::new(&[SeedUser {
            token: "tok-123".into(),
            name: "carol".into(),
            app: true,
        }]);
        assert!(users.resolve("Bearer x").is_none());
        assert!(users.resolve("sandbox-").is_none());
        assert!(users.resolve("sandbox-a b").is_none());
        assert_eq!(users.resolve("tok-123").unwrap().name, "carol");
    }
}
