//! Text from the capture as facts carry it: bytes that may not be UTF-8,
//! kept byte for byte. Parsers make [`lossless`] strings; the report shows
//! [`Text`].

use serde::{Serialize, Serializer};

/// Text from the capture. Valid UTF-8 is a JSON string; anything else keeps
/// its bytes as `{"bytes": "<base64>"}` rather than being mangled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Text(pub Vec<u8>);

impl Text {
    /// For people: the text, with invalid bytes shown as `\xNN`.
    pub fn display(&self) -> String {
        let mut out = String::new();
        for chunk in self.0.utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out
    }
}

/// Bytes as a `String` without losing any: valid UTF-8 stays as it is, and
/// each byte of an invalid sequence becomes the private-use character
/// U+F700 + byte, which [`Text::from_lossless`] turns back into the byte.
/// Parsers use it so facts can travel as strings and still reach the report
/// byte for byte.
pub fn lossless(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push(char::from_u32(0xF700 + u32::from(*b)).unwrap_or('\u{fffd}'));
        }
    }
    out
}

impl Text {
    /// The bytes a [`lossless`] string stands for.
    pub fn from_lossless(s: &str) -> Text {
        let mut out = Vec::with_capacity(s.len());
        for c in s.chars() {
            match u32::from(c) {
                v @ 0xF700..=0xF7FF => out.push((v - 0xF700) as u8),
                _ => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        Text(out)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(s.as_bytes().to_vec())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(s.into_bytes())
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(
                    "bytes",
                    &base64::engine::general_purpose::STANDARD.encode(&self.0),
                )?;
                m.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossless_round_trip() {
        for bytes in [
            &b"plain"[..],
            b"caf\xe9",
            b"\xff\xfe\x00x",
            "日本".as_bytes(),
        ] {
            assert_eq!(Text::from_lossless(&lossless(bytes)).0, bytes);
        }
        let json = serde_json::to_string(&Text::from_lossless(&lossless(b"caf\xe9"))).unwrap();
        assert_eq!(json, r#"{"bytes":"Y2Fm6Q=="}"#);
        assert_eq!(serde_json::to_string(&Text::from("ok")).unwrap(), r#""ok""#);
    }
}
