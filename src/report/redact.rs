//! Secrets in reports: session ids, tokens and passwords are shown as a
//! short fingerprint unless `--show-secrets`. The fingerprint is a keyed
//! hash (SHA-256 over a key and the value): the same value gives the same
//! fingerprint within a report, and a reader cannot test guesses without
//! the key. The key is derived from the capture's own first bytes, so the
//! same input still gives the same bytes out.

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct Redactor {
    key: [u8; 32],
    show: bool,
}

impl Redactor {
    pub fn new(key: [u8; 32], show_secrets: bool) -> Self {
        Redactor {
            key,
            show: show_secrets,
        }
    }

    /// `fp:` and 8 hex digits.
    pub fn fingerprint(&self, secret: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(secret.as_bytes());
        let digest = h.finalize();
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

    #[test]
    fn stable_per_key_and_hidden() {
        let a = Redactor::new([1; 32], false);
        let b = Redactor::new([2; 32], false);
        assert_eq!(a.value("secret"), a.value("secret"));
        assert_ne!(a.value("secret"), a.value("secret2"));
        assert_ne!(a.value("secret"), b.value("secret"));
        assert!(a.value("secret").starts_with("fp:") && a.value("secret").len() == 11);
        assert_eq!(Redactor::new([1; 32], true).value("secret"), "secret");
    }
}
