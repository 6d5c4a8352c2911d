//! Secrets in reports: session ids, tokens and passwords are shown as a
//! short fingerprint unless `--show-secrets`. The fingerprint is
//! HMAC-SHA256 of the value under a key: the same value gives the same
//! fingerprint under the same key, and a reader cannot test guesses without
//! it. The key is the user's (`--fingerprint-key FILE`: the same in every
//! report, so reports can be joined on fingerprints) or, by default,
//! derived from the capture's own first bytes (the same input still gives
//! the same bytes out, but another capture, or the same one merged with
//! another, gives other fingerprints).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct Redactor {
    key: Vec<u8>,
    show: bool,
}

impl Redactor {
    pub fn new(key: &[u8], show_secrets: bool) -> Self {
        Redactor {
            key: key.to_vec(),
            show: show_secrets,
        }
    }

    /// `fp:` and the first 8 hex digits of HMAC-SHA256(key, secret).
    pub fn fingerprint(&self, secret: &str) -> String {
        let digest = hmac_sha256(&self.key, secret.as_bytes());
        let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("fp:{hex}")
    }

    /// The value itself with `--show-secrets`, else its fingerprint.
    pub fn value(&self, secret: &str) -> String {
        if self.show {
            secret.to_owned()
        } else {
            self.fingerprint(secret)
        }
    }
}

/// HMAC-SHA256 (RFC 2104) of `data` under `key`, by the RustCrypto `hmac`
/// crate.
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // new_from_slice accepts any key length (HMAC hashes long keys).
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Builds the fingerprint key from the capture's first bytes.
#[derive(Debug, Clone, Default)]
pub struct KeyBuilder {
    hasher: Sha256,
    taken: usize,
}

/// Capture bytes that go into the key.
const KEY_INPUT: usize = 1 << 20;

impl KeyBuilder {
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.taken < KEY_INPUT {
            let take = bytes.len().min(KEY_INPUT - self.taken);
            self.hasher.update(&bytes[..take]);
            self.taken += take;
        }
    }

    pub fn key(self) -> [u8; 32] {
        let mut h = self.hasher;
        h.update(b"sessmap fingerprint key");
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn stable_per_key_and_hidden() {
        let a = Redactor::new(&[1; 32], false);
        let b = Redactor::new(&[2; 32], false);
        assert_eq!(a.value("secret"), a.value("secret"));
        assert_ne!(a.value("secret"), a.value("secret2"));
        assert_ne!(a.value("secret"), b.value("secret"));
        assert!(a.value("secret").starts_with("fp:") && a.value("secret").len() == 11);
        assert_eq!(Redactor::new(&[1; 32], true).value("secret"), "secret");
    }
}
