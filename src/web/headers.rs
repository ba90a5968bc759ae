//! Security headers on every answer, errors and unknown routes included: a Content-Security-
//! Policy that allows no script anywhere, `nosniff`, no framing by other sites, no referrer
//! sent to other origins. A handler only chooses which policy applies (`Policy`), never
//! writes one.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Which policy an answer needs. Answers without one get `Site`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// relais's own pages: the stylesheet from `/static`, no inline style, nothing else.
    Site,
    /// A compiled issue (the web version): mrml writes inline styles, and issues may show
    /// images from anywhere over https.
    Issue,
    /// The same, shown inside the desk's preview page.
    FramedIssue,
    /// The desk's pages (under `/admin`): the site's policy, plus the desk's own script file
    /// and its requests to the same origin. Still no inline script.
    Desk,
}

const SITE: &str = "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const ISSUE: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; \
     font-src https:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const DESK: &str = "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; \
     script-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";
const FRAMED_ISSUE: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; \
     font-src https:; form-action 'self'; base-uri 'none'; frame-ancestors 'self'";

impl Policy {
    fn content_security_policy(self) -> &'static str {
        match self {
            Policy::Site => SITE,
            Policy::Issue => ISSUE,
            Policy::FramedIssue => FRAMED_ISSUE,
            Policy::Desk => DESK,
        }
    }

    fn frame_options(self) -> &'static str {
        match self {
            Policy::Site | Policy::Issue | Policy::Desk => "DENY",
            Policy::FramedIssue => "SAMEORIGIN",
        }
    }

    /// `answer` marked as needing this policy.
    pub fn on(self, answer: impl IntoResponse) -> Response {
        let mut response = answer.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// The middleware: runs the handler, then sets the headers its policy names. Answers under
/// `/admin` that name none get the desk's.
pub async fn secure(request: Request, next: Next) -> Response {
    let desk = request.uri().path().starts_with("/admin");
    let mut response = next.run(request).await;
    let fallback = if desk { Policy::Desk } else { Policy::Site };
    let policy = response
        .extensions()
        .get::<Policy>()
        .copied()
        .unwrap_or(fallback);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy.content_security_policy()),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static(policy.frame_options()),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
