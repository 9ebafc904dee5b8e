//! The dashboard's token and the keys made from it: what a visitor must show, how session cookies
//! are signed and how CSRF tokens are derived (see `access.rs` for why). Kept apart from the
//! handlers in `access.rs` so that the state every handler shares can hold it.

use crate::config::{DashboardSettings, Secret};
use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::CookieJar;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie a login sets: `EXPIRES.HMAC(session key, EXPIRES)`.
pub(super) const SESSION_COOKIE: &str = "boardsync_session";

type HmacSha256 = Hmac<Sha256>;

/// The keys access works with, made once at start and kept in the dashboard's `AppState`.
#[derive(Clone)]
pub struct Access {
    /// Set when `[dashboard] token` is: what visitors must show.
    pub(super) login: Option<Login>,
    /// Turns a browser's CSRF cookie into the token its forms carry.
    csrf_key: [u8; 32],
}

#[derive(Clone)]
pub(super) struct Login {
    pub(super) token: Secret,
    /// Signs session cookies; derived from the token, so replicas sharing it agree.
    session_key: [u8; 32],
}

impl Access {
    pub(crate) fn new(settings: &DashboardSettings) -> Access {
        match &settings.token {
            Some(token) => {
                let secret = token.expose().as_bytes();
                Access {
                    login: Some(Login {
                        token: token.clone(),
                        session_key: hmac(secret, b"boardsync dashboard session key"),
                    }),
                    csrf_key: hmac(secret, b"boardsync dashboard csrf key"),
                }
            }
            None => Access {
                login: None,
                csrf_key: rand::random(),
            },
        }
    }

    /// Whether visitors must log in (a token is set): the pages then offer to log out.
    pub(crate) fn requires_login(&self) -> bool {
        self.login.is_some()
    }

    /// Whether the request may see guarded routes: always without a token; with one, when it
    /// carries it as a bearer or holds a live session cookie.
    pub(super) fn admits(&self, headers: &HeaderMap, jar: &CookieJar, now: i64) -> bool {
        let Some(login) = &self.login else {
            return true;
        };
        bearer(headers).is_some_and(|given| same(given, login.token.expose()))
            || jar
                .get(SESSION_COOKIE)
                .is_some_and(|c| login.session_is_live(c.value(), now))
    }

    /// The token the forms of the browser holding CSRF cookie `browser` carry.
    pub(super) fn csrf_token(&self, browser: &str) -> String {
        hex::encode(hmac(&self.csrf_key, browser.as_bytes()))
    }
}

impl Login {
    /// A session cookie's value for a login that lasts until `expires` (Unix seconds).
    pub(super) fn session(&self, expires: i64) -> String {
        let tag = hmac(&self.session_key, expires.to_string().as_bytes());
        format!("{expires}.{}", hex::encode(tag))
    }

    /// Whether `value` is a session this token signed, not yet expired at `now`.
    fn session_is_live(&self, value: &str, now: i64) -> bool {
        let Some(expires) = value
            .split_once('.')
            .and_then(|(expires, _)| expires.parse::<i64>().ok())
        else {
            return false;
        };
        expires > now && same(value, &self.session(expires))
    }
}

/// The credentials of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

/// Whether two secrets are equal, in time that tells nothing about them: both are hashed first,
/// so not even their lengths show.
pub(super) fn same(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes())
        .as_slice()
        .ct_eq(Sha256::digest(expected.as_bytes()).as_slice())
        .into()
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_token(token: &str) -> Access {
        Access::new(&DashboardSettings {
            token: Some(Secret::new(token)),
        })
    }

    #[test]
    fn replicas_sharing_a_token_accept_each_others_sessions_and_csrf_tokens() {
        let (a, b) = (with_token("s3cret"), with_token("s3cret"));
        let (a_login, b_login) = (a.login.as_ref().unwrap(), b.login.as_ref().unwrap());
        let session = a_login.session(1_000);
        assert!(b_login.session_is_live(&session, 999));
        assert!(!session.contains("s3cret"));
        assert_eq!(a.csrf_token("cookie"), b.csrf_token("cookie"));
        assert_ne!(a.csrf_token("cookie"), a.csrf_token("another"));
    }

    #[test]
    fn a_session_dies_when_it_expires_when_the_token_changes_or_when_it_is_edited() {
        let login = with_token("s3cret").login.unwrap();
        let session = login.session(1_000);
        assert!(!login.session_is_live(&session, 1_000), "expired");
        let other = with_token("rotated").login.unwrap();
        assert!(!other.session_is_live(&session, 999), "another token");
        let later = session.replacen("1000", "9000", 1);
        assert!(!login.session_is_live(&later, 999), "expiry moved");
        for junk in ["", ".", "abc", "1000.", "x.y"] {
            assert!(!login.session_is_live(junk, 999), "{junk:?}");
        }
    }

    #[test]
    fn without_a_token_each_start_has_its_own_csrf_key() {
        let open = DashboardSettings::default();
        let (a, b) = (Access::new(&open), Access::new(&open));
        assert_ne!(a.csrf_token("cookie"), b.csrf_token("cookie"));
        assert!(a.admits(&HeaderMap::new(), &CookieJar::new(), 0));
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "bearer t0k".parse().unwrap());
        assert_eq!(bearer(&headers), Some("t0k"));
        headers.insert(header::AUTHORIZATION, "Basic t0k".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
