//! The v3 URI rule: decode exactly the escapes HubSpot lists, leave every other one alone.

use std::borrow::Cow;

/// Characters whose `%XX` escapes v3 decodes before signing (`%20` and the rest stay).
const DECODED: &[u8] = b":/?@!$'()*,;";

/// Decodes only the listed escapes, with upper- or lower-case hex digits.
pub(super) fn decode_v3_uri(uri: &str) -> Cow<'_, str> {
    if !uri.contains('%') {
        return Cow::Borrowed(uri);
    }
    let bytes = uri.as_bytes();
    let mut out = String::with_capacity(uri.len());
    let mut copied_to = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(ch) = listed_escape(&bytes[i..]) {
            out.push_str(&uri[copied_to..i]);
            out.push(char::from(ch));
            i += 3;
            copied_to = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&uri[copied_to..]);
    Cow::Owned(out)
}

/// The decoded character when `rest` starts with a listed escape.
fn listed_escape(rest: &[u8]) -> Option<u8> {
    match rest {
        [b'%', hi, lo, ..] => {
            let ch = (hex_value(*hi)? << 4) | hex_value(*lo)?;
            DECODED.contains(&ch).then_some(ch)
        }
        _ => None,
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::decode_v3_uri;

    #[test]
    fn listed_escapes_are_decoded_in_either_case() {
        assert_eq!(
            decode_v3_uri("https://x.test/a%3Ab%3ac%2F%3F%40%21%24%27%28%29%2A%2C%3B"),
            "https://x.test/a:b:c/?@!$'()*,;"
        );
    }

    #[test]
    fn other_escapes_stay_encoded() {
        assert_eq!(
            decode_v3_uri("https://x.test/a%20b?q=%25%3D%2f"),
            "https://x.test/a%20b?q=%25%3D/"
        );
    }

    #[test]
    fn truncated_or_bad_escapes_are_left_alone() {
        assert_eq!(decode_v3_uri("https://x.test/%3"), "https://x.test/%3");
        assert_eq!(decode_v3_uri("https://x.test/%zz%"), "https://x.test/%zz%");
    }

    #[test]
    fn decoding_happens_once() {
        assert_eq!(
            decode_v3_uri("https://x.test/%253A"),
            "https://x.test/%253A"
        );
    }

    #[test]
    fn non_ascii_text_survives() {
        assert_eq!(decode_v3_uri("https://x.test/é%3Aü"), "https://x.test/é:ü");
    }
}
