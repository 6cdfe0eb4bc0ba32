//! Share links: a whole scenario in a URL fragment (stub: interface only).

use std::fmt;

/// What a share fragment starts with: `#s=...`.
pub const FRAGMENT_PREFIX: &str = "s=";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareError(pub String);

impl fmt::Display for ShareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The fragment (without `#`) that carries `text`.
pub fn encode(text: &str) -> String {
    format!("{FRAGMENT_PREFIX}{}", text.len())
}

/// The scenario text a fragment carries.
pub fn decode(fragment: &str) -> Result<String, ShareError> {
    Err(ShareError(format!("not a share link: {fragment}")))
}
