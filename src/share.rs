//! Share links: a whole scenario in a URL fragment, `#s=` followed by the raw-deflated text in
//! base64url without padding. The fragment never reaches a server, so a link carries the
//! scenario without anything stored anywhere.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use miniz_oxide::inflate::TINFLStatus;

/// What a share fragment starts with: `#s=...`.
pub const FRAGMENT_PREFIX: &str = "s=";

/// The most text a link may inflate to: far above any hand-made scenario, and small enough
/// that a hostile link (a deflate bomb) cannot exhaust the tab's memory.
pub const MAX_DECODED_BYTES: usize = 1 << 20;

/// Deflate level: the best ratio; scenarios are small, so the extra time does not show.
const LEVEL: u8 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareError(pub String);

impl fmt::Display for ShareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShareError {}

/// The fragment (without `#`) that carries `text`.
pub fn encode(text: &str) -> String {
    let deflated = miniz_oxide::deflate::compress_to_vec(text.as_bytes(), LEVEL);
    format!("{FRAGMENT_PREFIX}{}", URL_SAFE_NO_PAD.encode(deflated))
}

/// The scenario text a fragment carries; the fragment may keep its leading `#`.
pub fn decode(fragment: &str) -> Result<String, ShareError> {
    let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
    let Some(payload) = fragment.strip_prefix(FRAGMENT_PREFIX) else {
        let shown: String = fragment.chars().take(20).collect();
        return Err(ShareError(format!(
            "not a share link: the fragment should start with `#{FRAGMENT_PREFIX}`, found `#{shown}`"
        )));
    };
    // Some mail clients and chat apps wrap long links: whitespace is never part of base64url.
    let payload: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    let deflated = URL_SAFE_NO_PAD.decode(payload.as_bytes()).map_err(|e| {
        ShareError(format!(
            "the share link is damaged (not base64url: {e}); copy the whole link again"
        ))
    })?;
    let bytes = miniz_oxide::inflate::decompress_to_vec_with_limit(&deflated, MAX_DECODED_BYTES)
        .map_err(|e| match e.status {
            TINFLStatus::HasMoreOutput => ShareError(format!(
                "the share link holds more than {} KiB of scenario, the most a link may carry",
                MAX_DECODED_BYTES >> 10
            )),
            status => ShareError(format!(
                "the share link is damaged (its compressed data does not inflate: {status:?}); \
                 copy the whole link again"
            )),
        })?;
    String::from_utf8(bytes).map_err(|e| {
        ShareError(format!(
            "the share link does not hold UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment_of(bytes: &[u8]) -> String {
        let deflated = miniz_oxide::deflate::compress_to_vec(bytes, 6);
        format!("s={}", URL_SAFE_NO_PAD.encode(deflated))
    }

    #[test]
    fn round_trip_with_and_without_hash() {
        let text = "{\"format\":\"queue-playground/v1\",\"steps\":[]} — ünïcødé";
        let fragment = encode(text);
        assert!(fragment.starts_with("s="));
        assert_eq!(decode(&fragment).as_deref(), Ok(text));
        assert_eq!(decode(&format!("#{fragment}")).as_deref(), Ok(text));
    }

    #[test]
    fn fragment_is_url_safe() {
        let text: String = (0..2000)
            .map(|i| char::from(b' ' + (i * 7 % 90) as u8))
            .collect();
        let fragment = encode(&text);
        assert!(fragment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = |f: &str| decode(f).unwrap_err().0;
        expect_test::expect![[
            r#"not a share link: the fragment should start with `#s=`, found `#section-2`"#
        ]]
        .assert_eq(&err("#section-2"));
        expect_test::expect![[r#"the share link is damaged (not base64url: Invalid symbol 33, offset 3.); copy the whole link again"#]]
            .assert_eq(&err("s=abc!"));
        expect_test::expect![[r#"the share link is damaged (its compressed data does not inflate: Failed); copy the whole link again"#]]
            .assert_eq(&err(&format!("s={}", URL_SAFE_NO_PAD.encode([0xff; 16]))));
        expect_test::expect![[
            r#"the share link does not hold UTF-8 text (invalid byte at offset 2)"#
        ]]
        .assert_eq(&err(&fragment_of(b"ok\xff\xfe")));
    }

    #[test]
    fn too_large_is_refused_not_inflated() {
        let bomb = vec![b'a'; MAX_DECODED_BYTES + 1];
        let fragment = fragment_of(&bomb);
        // A megabyte of one letter deflates to about a kilobyte: a link that small must not
        // make the page allocate without bound.
        assert!(fragment.len() < 4096, "{}", fragment.len());
        expect_test::expect![[
            r#"the share link holds more than 1024 KiB of scenario, the most a link may carry"#
        ]]
        .assert_eq(&decode(&fragment).unwrap_err().0);
        let at_limit = vec![b'a'; MAX_DECODED_BYTES];
        assert_eq!(
            decode(&fragment_of(&at_limit)).map(|s| s.len()),
            Ok(MAX_DECODED_BYTES)
        );
    }

    #[test]
    fn whitespace_from_wrapped_links_is_ignored() {
        let fragment = encode("hello, queue");
        let (head, tail) = fragment.split_at(5);
        assert_eq!(
            decode(&format!("{head}\n  {tail}")).as_deref(),
            Ok("hello, queue")
        );
    }

    #[test]
    fn presets_compress_well() {
        for preset in crate::presets::PRESETS {
            let fragment = encode(preset.text);
            // Base64 costs a third more than the deflated bytes; even short presets gain.
            assert!(
                fragment.len() < preset.text.len(),
                "{}: {} bytes of text, {} in the link",
                preset.id,
                preset.text.len(),
                fragment.len()
            );
            assert_eq!(decode(&fragment).as_deref(), Ok(preset.text));
        }
        // The longest preset repeats its keys and names the most: a link under a third its size.
        let longest = crate::presets::PRESETS
            .iter()
            .max_by_key(|p| p.text.len())
            .unwrap();
        let fragment = encode(longest.text);
        assert!(
            fragment.len() * 3 < longest.text.len(),
            "{}: {} bytes of text, {} in the link",
            longest.id,
            longest.text.len(),
            fragment.len()
        );
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_text_round_trips(text in "\\PC{0,400}") {
            prop_assert_eq!(decode(&encode(&text)), Ok(text));
        }

        #[test]
        fn any_fragment_decodes_or_errs_without_panic(fragment in "#?s=[A-Za-z0-9_\\-]{0,200}") {
            let _ = decode(&fragment);
        }
    }
}
