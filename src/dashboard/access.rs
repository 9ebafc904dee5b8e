//! Who may see the dashboard: anyone on loopback, only holders of the token everywhere else (the
//! loader refuses a `listen` beyond loopback without `[dashboard] token`), and on every form a
//! CSRF token either way.
//!
//! With a token configured, [`guard`] lets a request through when it carries the token as
//! `Authorization: Bearer`, or the session cookie the login form sets. That cookie holds an expiry
//! and an HMAC of it under a key derived from the token, never the token itself: every replica
//! sharing the token accepts it, and a copied cookie dies when it expires or the token changes.
//!
//! Forms resist cross-site posts without JavaScript and without a login: each browser gets a
//! random `boardsync_csrf` cookie (HttpOnly, SameSite=Strict), and its forms carry the HMAC of
//! that cookie under the daemon's CSRF key. Another site can neither read the token off our pages
//! nor compute it. The key is derived from the token when there is one, so replicas agree, and
//! random per start when there is not.
//!
//! Access never renders or logs a token, a cookie value or a key.
//!
//! The token and the keys made from it are in `keys.rs`; this file holds the guard, the login
//! and logout routes and the CSRF extractors.

use super::keys::{SESSION_COOKIE, same};
use super::state::AppState;
use axum::Router;
use axum::extract::{Form, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

/// The random per-browser value CSRF tokens are derived from.
const CSRF_COOKIE: &str = "boardsync_csrf";
/// How long a login lasts: a working week of a dashboard left open in a tab, after which a cookie
/// copied off a machine is worth nothing.
const SESSION_LIFETIME_SECS: i64 = 7 * 86_400;
/// Random bytes in a browser's CSRF cookie: enough that no one guesses another's.
const CSRF_COOKIE_BYTES: usize = 16;

/// Lets a request to a guarded route through, or answers it: 401 for `/api/*`, `/metrics` and
/// anything but a page view, a redirect to the login form for a page. A request let through
/// gets its CSRF token in its extensions (for [`Csrf`] and [`CsrfChecked`]), and the browser a
/// CSRF cookie when it has none.
pub async fn guard(
    State(state): State<AppState>,
    jar: CookieJar,
    mut request: Request,
    next: Next,
) -> Response {
    if !state
        .access
        .admits(request.headers(), &jar, state.clock.now().timestamp())
    {
        return refuse(&request);
    }
    let known = jar
        .get(CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| is_csrf_cookie(v));
    let fresh = known.is_none();
    let browser = known.unwrap_or_else(|| hex::encode(rand::random::<[u8; CSRF_COOKIE_BYTES]>()));
    let secure = over_https(request.headers());
    request.extensions_mut().insert(Issued {
        token: state.access.csrf_token(&browser),
        fresh,
    });
    let response = next.run(request).await;
    if fresh {
        let jar = jar.add(cookie(CSRF_COOKIE, browser, secure));
        (jar, response).into_response()
    } else {
        response
    }
}

/// The answer to a request without the token.
fn refuse(request: &Request) -> Response {
    let path = request.uri().path();
    let page = matches!(*request.method(), Method::GET | Method::HEAD)
        && !path.starts_with("/api/")
        && path != "/metrics";
    if page {
        let wanted = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let next: String = url::form_urlencoded::byte_serialize(wanted.as_bytes()).collect();
        return Redirect::to(&format!("/login?next={next}")).into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "this dashboard needs its token: send `Authorization: Bearer <token>`, or log in at /login\n",
    )
        .into_response()
}

/// The routes open to all that access needs: the login form, and logging out.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `GET /login`: the form, or straight on when there is nothing to log in to.
async fn login_form(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Response {
    let next = local_path(query.next.as_deref());
    if state.access.login.is_none() {
        return Redirect::to(next).into_response();
    }
    login_page(next, None).into_response()
}

/// `POST /login`: the right token sets the session cookie and goes on to `next`; a wrong one
/// gets the form again, with 401 and no cookie.
async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let Some(login) = &state.access.login else {
        return Redirect::to(next).into_response();
    };
    if !same(&form.token, login.token.expose()) {
        tracing::warn!("refused a dashboard login: wrong token");
        return (
            StatusCode::UNAUTHORIZED,
            login_page(next, Some("wrong token")),
        )
            .into_response();
    }
    let session = login.session(
        state
            .clock
            .now()
            .timestamp()
            .saturating_add(SESSION_LIFETIME_SECS),
    );
    let jar = jar.add(cookie(SESSION_COOKIE, session, over_https(&headers)));
    (jar, Redirect::to(next)).into_response()
}

/// `POST /logout`: forgets the session cookie.
async fn logout(jar: CookieJar) -> Response {
    let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
    (jar, Redirect::to("/login")).into_response()
}

fn login_page(next: &str, problem: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "boardsync: log in" }
                link rel="stylesheet" href="/assets/style.css";
            }
            body {
                main.login {
                    h1 { "boardsync" }
                    form method="post" action="/login" {
                        @if let Some(problem) = problem {
                            p.problem role="alert" { (problem) }
                        }
                        label for="token" { "Dashboard token" }
                        input #token type="password" name="token" autocomplete="current-password" required autofocus;
                        input type="hidden" name="next" value=(next);
                        button type="submit" { "Log in" }
                    }
                }
            }
        }
    }
}

/// Where to go after logging in: `next` when it is a path on this site, else the overview.
/// `//host` and `/\host` are other sites to a browser, so they are refused.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.parse::<PathAndQuery>().is_ok() =>
        {
            path
        }
        _ => "/",
    }
}

/// The CSRF token of this request's browser, as [`guard`] issued it.
#[derive(Clone)]
struct Issued {
    token: String,
    /// The browser had no CSRF cookie: it gets one with this answer, so nothing it posts now can
    /// be from one of our forms.
    fresh: bool,
}

/// The CSRF token a page puts in each of its forms, as the hidden field `csrf`.
#[derive(Debug, Clone)]
pub struct Csrf(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Csrf {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Issued>() {
            Some(issued) => Ok(Csrf(issued.token.clone())),
            None => Err(unguarded()),
        }
    }
}

/// A POST whose form carried the right `csrf` field; rejects the request (403, saying why)
/// otherwise. It reads the whole urlencoded body, so it comes last among a handler's extractors.
pub struct CsrfChecked;

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

impl<S: Send + Sync> FromRequest<S> for CsrfChecked {
    type Rejection = Response;
    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Some(issued) = request.extensions().get::<Issued>().cloned() else {
            return Err(unguarded());
        };
        if issued.fresh {
            return Err(forbidden(
                "this browser had no CSRF cookie, so the form is not one of ours: reload the page and try again",
            ));
        }
        let Ok(Form(field)) = Form::<CsrfField>::from_request(request, state).await else {
            return Err(forbidden(
                "the form must be sent urlencoded, with its csrf field",
            ));
        };
        match field.csrf {
            None => Err(forbidden("the form carried no csrf field")),
            Some(given) if same(&given, &issued.token) => Ok(CsrfChecked),
            Some(_) => Err(forbidden(
                "the form's csrf field is not this browser's: reload the page and try again",
            )),
        }
    }
}

fn forbidden(why: &str) -> Response {
    (StatusCode::FORBIDDEN, format!("{why}\n")).into_response()
}

/// A form route outside [`guard`] has no CSRF token to give or check: a wiring mistake.
fn unguarded() -> Response {
    tracing::error!("a dashboard form route is not behind access::guard");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

/// An HttpOnly, SameSite=Strict cookie for the whole site; Secure when the visitor came over
/// https (as a proxy in front says).
fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .build()
}

fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// A value [`guard`] could have set as a CSRF cookie.
fn is_csrf_cookie(value: &str) -> bool {
    value.len() == 2 * CSRF_COOKIE_BYTES && value.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_login_only_local_paths_are_followed() {
        for (next, to) in [
            (Some("/pairs/x?view=all"), "/pairs/x?view=all"),
            (Some("/"), "/"),
            (None, "/"),
            (Some("//evil.example/"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("pairs"), "/"),
            (Some("/a\nb"), "/"),
        ] {
            assert_eq!(local_path(next), to, "{next:?}");
        }
    }
}
