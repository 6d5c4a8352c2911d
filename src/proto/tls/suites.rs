//! The cipher suites sessmap decrypts: what each one's record protection
//! is, and which hash its key derivation uses. Unknown suites are kept by
//! number (the report names them as `unsupported-cipher`).

/// Record protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20Poly1305,
    /// AES-CCM with a 16-byte tag.
    Aes128Ccm,
    Aes256Ccm,
    /// AES-CCM with an 8-byte tag.
    Aes128Ccm8,
    Aes256Ccm8,
    Aes128Cbc,
    Aes256Cbc,
    /// Integrity only: the plaintext travels as it is, with a MAC.
    Null,
}

impl Cipher {
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Gcm | Cipher::Aes128Ccm | Cipher::Aes128Ccm8 | Cipher::Aes128Cbc => 16,
            Cipher::Aes256Gcm
            | Cipher::Aes256Ccm
            | Cipher::Aes256Ccm8
            | Cipher::Aes256Cbc
            | Cipher::Chacha20Poly1305 => 32,
            Cipher::Null => 0,
        }
    }

    pub fn is_aead(self) -> bool {
        !matches!(self, Cipher::Aes128Cbc | Cipher::Aes256Cbc | Cipher::Null)
    }

    /// The AEAD tag length.
    pub fn tag_len(self) -> usize {
        match self {
            Cipher::Aes128Ccm8 | Cipher::Aes256Ccm8 => 8,
            c if c.is_aead() => 16,
            _ => 0,
        }
    }

    /// TLS 1.2 fixed IV bytes from the key block: the 4-byte salt of GCM and
    /// CCM (RFC 5288, 6655), the whole 12-byte nonce mask of ChaCha20
    /// (RFC 7905), the first CBC IV of TLS 1.0 and SSL 3.0.
    pub fn fixed_iv_len(self) -> usize {
        match self {
            Cipher::Chacha20Poly1305 => 12,
            Cipher::Aes128Cbc | Cipher::Aes256Cbc => 16,
            Cipher::Null => 0,
            _ => 4,
        }
    }
}

/// The hash of a suite's PRF or HKDF, and of its record MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Md5,
    Sha1,
    Sha256,
    Sha384,
}

impl Hash {
    /// Output bytes.
    pub fn output_len(self) -> usize {
        match self {
            Hash::Md5 => 16,
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    pub id: u16,
    pub name: &'static str,
    pub cipher: Cipher,
    /// TLS 1.3: the HKDF hash. TLS 1.2: the PRF hash.
    pub prf: Hash,
    /// CBC and NULL suites: the record MAC (AEAD suites: none).
    pub mac: Option<Hash>,
}

macro_rules! suites {
    ($($id:literal $name:literal $cipher:ident $prf:ident $mac:expr;)*) => {
        /// Every suite decrypted, by IANA number.
        pub const SUITES: &[Suite] = &[$(Suite {
            id: $id,
            name: $name,
            cipher: Cipher::$cipher,
            prf: Hash::$prf,
            mac: $mac,
        }),*];
    };
}

const SHA1: Option<Hash> = Some(Hash::Sha1);
const SHA256: Option<Hash> = Some(Hash::Sha256);
const SHA384: Option<Hash> = Some(Hash::Sha384);
const MD5: Option<Hash> = Some(Hash::Md5);

suites! {
    // TLS 1.3 (RFC 8446 B.4)
    0x1301 "TLS_AES_128_GCM_SHA256" Aes128Gcm Sha256 None;
    0x1302 "TLS_AES_256_GCM_SHA384" Aes256Gcm Sha384 None;
    0x1303 "TLS_CHACHA20_POLY1305_SHA256" Chacha20Poly1305 Sha256 None;
    0x1304 "TLS_AES_128_CCM_SHA256" Aes128Ccm Sha256 None;
    0x1305 "TLS_AES_128_CCM_8_SHA256" Aes128Ccm8 Sha256 None;
    // AES-GCM (RFC 5288, 5289)
    0x009c "TLS_RSA_WITH_AES_128_GCM_SHA256" Aes128Gcm Sha256 None;
    0x009d "TLS_RSA_WITH_AES_256_GCM_SHA384" Aes256Gcm Sha384 None;
    0x009e "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256" Aes128Gcm Sha256 None;
    0x009f "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384" Aes256Gcm Sha384 None;
    0x00a2 "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256" Aes128Gcm Sha256 None;
    0x00a3 "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384" Aes256Gcm Sha384 None;
    0xc02b "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" Aes128Gcm Sha256 None;
    0xc02c "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" Aes256Gcm Sha384 None;
    0xc02f "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" Aes128Gcm Sha256 None;
    0xc030 "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" Aes256Gcm Sha384 None;
    // ChaCha20-Poly1305 (RFC 7905)
    0xcca8 "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" Chacha20Poly1305 Sha256 None;
    0xcca9 "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" Chacha20Poly1305 Sha256 None;
    0xccaa "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256" Chacha20Poly1305 Sha256 None;
    // AES-CCM (RFC 6655, 7251)
    0xc09c "TLS_RSA_WITH_AES_128_CCM" Aes128Ccm Sha256 None;
    0xc09d "TLS_RSA_WITH_AES_256_CCM" Aes256Ccm Sha256 None;
    0xc09e "TLS_DHE_RSA_WITH_AES_128_CCM" Aes128Ccm Sha256 None;
    0xc09f "TLS_DHE_RSA_WITH_AES_256_CCM" Aes256Ccm Sha256 None;
    0xc0a0 "TLS_RSA_WITH_AES_128_CCM_8" Aes128Ccm8 Sha256 None;
    0xc0a1 "TLS_RSA_WITH_AES_256_CCM_8" Aes256Ccm8 Sha256 None;
    0xc0a2 "TLS_DHE_RSA_WITH_AES_128_CCM_8" Aes128Ccm8 Sha256 None;
    0xc0a3 "TLS_DHE_RSA_WITH_AES_256_CCM_8" Aes256Ccm8 Sha256 None;
    0xc0ac "TLS_ECDHE_ECDSA_WITH_AES_128_CCM" Aes128Ccm Sha256 None;
    0xc0ad "TLS_ECDHE_ECDSA_WITH_AES_256_CCM" Aes256Ccm Sha256 None;
    0xc0ae "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8" Aes128Ccm8 Sha256 None;
    0xc0af "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8" Aes256Ccm8 Sha256 None;
    // AES-CBC (RFC 3268, 5246, 4492, 5289)
    0x002f "TLS_RSA_WITH_AES_128_CBC_SHA" Aes128Cbc Sha256 SHA1;
    0x0035 "TLS_RSA_WITH_AES_256_CBC_SHA" Aes256Cbc Sha256 SHA1;
    0x0032 "TLS_DHE_DSS_WITH_AES_128_CBC_SHA" Aes128Cbc Sha256 SHA1;
    0x0038 "TLS_DHE_DSS_WITH_AES_256_CBC_SHA" Aes256Cbc Sha256 SHA1;
    0x0033 "TLS_DHE_RSA_WITH_AES_128_CBC_SHA" Aes128Cbc Sha256 SHA1;
    0x0039 "TLS_DHE_RSA_WITH_AES_256_CBC_SHA" Aes256Cbc Sha256 SHA1;
    0x003c "TLS_RSA_WITH_AES_128_CBC_SHA256" Aes128Cbc Sha256 SHA256;
    0x003d "TLS_RSA_WITH_AES_256_CBC_SHA256" Aes256Cbc Sha256 SHA256;
    0x0040 "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256" Aes128Cbc Sha256 SHA256;
    0x006a "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256" Aes256Cbc Sha256 SHA256;
    0x0067 "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256" Aes128Cbc Sha256 SHA256;
    0x006b "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256" Aes256Cbc Sha256 SHA256;
    0xc009 "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA" Aes128Cbc Sha256 SHA1;
    0xc00a "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA" Aes256Cbc Sha256 SHA1;
    0xc013 "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" Aes128Cbc Sha256 SHA1;
    0xc014 "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" Aes256Cbc Sha256 SHA1;
    0xc023 "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" Aes128Cbc Sha256 SHA256;
    0xc024 "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384" Aes256Cbc Sha384 SHA384;
    0xc027 "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256" Aes128Cbc Sha256 SHA256;
    0xc028 "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384" Aes256Cbc Sha384 SHA384;
    // NULL encryption (RFC 5246, 4492): MAC only
    0x0001 "TLS_RSA_WITH_NULL_MD5" Null Sha256 MD5;
    0x0002 "TLS_RSA_WITH_NULL_SHA" Null Sha256 SHA1;
    0x003b "TLS_RSA_WITH_NULL_SHA256" Null Sha256 SHA256;
    0xc006 "TLS_ECDHE_ECDSA_WITH_NULL_SHA" Null Sha256 SHA1;
    0xc010 "TLS_ECDHE_RSA_WITH_NULL_SHA" Null Sha256 SHA1;
}

pub fn suite(id: u16) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.id == id)
}

/// TLS 1.3 suites are 0x13NN.
pub fn is_tls13_suite(id: u16) -> bool {
    id >> 8 == 0x13
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unique_and_names_match_their_parts() {
        for (i, s) in SUITES.iter().enumerate() {
            assert!(SUITES[..i].iter().all(|t| t.id != s.id), "{:04x}", s.id);
            let bits = if s.cipher.key_len() == 16 {
                "128"
            } else {
                "256"
            };
            if s.cipher != Cipher::Null && s.cipher != Cipher::Chacha20Poly1305 {
                assert!(s.name.contains(bits), "{}", s.name);
            }
            assert_eq!(
                s.name.ends_with("SHA384"),
                s.prf == Hash::Sha384,
                "{}",
                s.name
            );
            assert_eq!(s.cipher.is_aead(), s.mac.is_none(), "{}", s.name);
        }
    }
}
