//! Key derivation (TLS 1.2/1.1/1.0 PRF, the SSL 3.0 key block, the TLS 1.3
//! key schedule) and record decryption, on the RustCrypto primitives
//! (AES-GCM, AES-CCM, ChaCha20-Poly1305, AES-CBC, HMAC, HKDF). Nothing here
//! is a cipher of its own: only the constructions the RFCs define on top
//! of those primitives, each checked against published vectors in tests.

use super::suites::{Cipher, Hash, Suite};
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use ccm::aead::generic_array::typenum::Unsigned;
use ccm::aead::generic_array::GenericArray;
use ccm::aead::{AeadCore, AeadInPlace, KeyInit};
use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384};

type Ccm128 = ccm::Ccm<aes::Aes128, ccm::consts::U16, ccm::consts::U12>;
type Ccm256 = ccm::Ccm<aes::Aes256, ccm::consts::U16, ccm::consts::U12>;
type Ccm128x8 = ccm::Ccm<aes::Aes128, ccm::consts::U8, ccm::consts::U12>;
type Ccm256x8 = ccm::Ccm<aes::Aes256, ccm::consts::U8, ccm::consts::U12>;

macro_rules! hmac_parts {
    ($h:ty, $key:expr, $parts:expr) => {{
        // HMAC takes keys of any length.
        match <Hmac<$h> as KeyInit>::new_from_slice($key) {
            Ok(mut m) => {
                for p in $parts {
                    m.update(p);
                }
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }};
}

fn hmac_with(hash: Hash, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match hash {
        Hash::Md5 => hmac_parts!(Md5, key, parts),
        Hash::Sha1 => hmac_parts!(Sha1, key, parts),
        Hash::Sha256 => hmac_parts!(Sha256, key, parts),
        Hash::Sha384 => hmac_parts!(Sha384, key, parts),
    }
}

/// P_hash of RFC 5246 §5: HMAC chained over A(i).
fn p_hash(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 48);
    let mut a = hmac_with(hash, secret, &[label, seed]);
    while out.len() < len && !a.is_empty() {
        out.extend(hmac_with(hash, secret, &[&a, label, seed]));
        a = hmac_with(hash, secret, &[&a]);
    }
    out.truncate(len);
    out
}

/// The TLS 1.2 PRF (RFC 5246 §5) with the suite's hash.
pub fn prf12(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    p_hash(hash, secret, label, seed, len)
}

/// The TLS 1.0 and 1.1 PRF (RFC 2246 §5): P_MD5 over the first half of the
/// secret XOR P_SHA1 over the second (the halves share a byte when odd).
pub fn prf10(secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let half = secret.len().div_ceil(2);
    let s1 = &secret[..half];
    let s2 = &secret[secret.len() - half..];
    let mut out = p_hash(Hash::Md5, s1, label, seed, len);
    let sha = p_hash(Hash::Sha1, s2, label, seed, len);
    for (o, s) in out.iter_mut().zip(sha) {
        *o ^= s;
    }
    out
}

/// The SSL 3.0 key block (RFC 6101 §6.2.2): MD5(master + SHA1("A" + master
/// + server_random + client_random)) + MD5(master + SHA1("BB" + …)) + ….
pub fn ssl3_key_block(
    master: &[u8],
    server_random: &[u8],
    client_random: &[u8],
    len: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0u8;
    while out.len() < len && i < 26 {
        let salt = vec![b'A' + i; usize::from(i) + 1];
        let inner = Sha1::new()
            .chain_update(&salt)
            .chain_update(master)
            .chain_update(server_random)
            .chain_update(client_random)
            .finalize();
        out.extend(
            Md5::new()
                .chain_update(master)
                .chain_update(inner)
                .finalize(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

/// HKDF-Expand-Label (RFC 8446 §7.1).
pub fn expand_label(hash: Hash, secret: &[u8], label: &str, context: &[u8], len: usize) -> Vec<u8> {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len() + context.len());
    info.extend_from_slice(&(len as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(full.as_bytes());
    info.push(context.len() as u8);
    info.extend_from_slice(context);
    let mut out = vec![0u8; len];
    let ok = match hash {
        Hash::Sha384 => hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand(&info, &mut out).ok()),
        _ => hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand(&info, &mut out).ok()),
    };
    if ok.is_none() {
        out.clear();
    }
    out
}

/// An AEAD with its key scheduled once.
enum Aead {
    /// AES-GCM and ChaCha20-Poly1305 by ring (assembly: AES-NI with
    /// aggregated carry-less GHASH, several times RustCrypto's one block at
    /// a time); CCM by RustCrypto.
    Ring(Box<ring::aead::LessSafeKey>),
    Ccm128(Box<Ccm128>),
    Ccm256(Box<Ccm256>),
    Ccm128x8(Box<Ccm128x8>),
    Ccm256x8(Box<Ccm256x8>),
}

fn ring_key(alg: &'static ring::aead::Algorithm, key: &[u8]) -> Option<Aead> {
    let key = ring::aead::UnboundKey::new(alg, key).ok()?;
    Some(Aead::Ring(Box::new(ring::aead::LessSafeKey::new(key))))
}

fn open_with<A: AeadInPlace>(a: &A, nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
    if nonce.len() != <A as AeadCore>::NonceSize::USIZE || tag.len() != A::TagSize::USIZE {
        return false;
    }
    a.decrypt_in_place_detached(
        GenericArray::from_slice(nonce),
        aad,
        buf,
        GenericArray::from_slice(tag),
    )
    .is_ok()
}

impl Aead {
    fn new(cipher: Cipher, key: &[u8]) -> Option<Aead> {
        Some(match cipher {
            Cipher::Aes128Gcm => ring_key(&ring::aead::AES_128_GCM, key)?,
            Cipher::Aes256Gcm => ring_key(&ring::aead::AES_256_GCM, key)?,
            Cipher::Chacha20Poly1305 => ring_key(&ring::aead::CHACHA20_POLY1305, key)?,
            Cipher::Aes128Ccm => Aead::Ccm128(Box::new(KeyInit::new_from_slice(key).ok()?)),
            Cipher::Aes256Ccm => Aead::Ccm256(Box::new(KeyInit::new_from_slice(key).ok()?)),
            Cipher::Aes128Ccm8 => Aead::Ccm128x8(Box::new(KeyInit::new_from_slice(key).ok()?)),
            Cipher::Aes256Ccm8 => Aead::Ccm256x8(Box::new(KeyInit::new_from_slice(key).ok()?)),
            _ => return None,
        })
    }

    fn open(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        match self {
            Aead::Ring(k) => {
                let (Ok(nonce), Ok(tag)) = (
                    ring::aead::Nonce::try_assume_unique_for_key(nonce),
                    ring::aead::Tag::try_from(tag),
                ) else {
                    return false;
                };
                k.open_in_place_separate_tag(nonce, ring::aead::Aad::from(aad), tag, buf, 0..)
                    .is_ok()
            }
            Aead::Ccm128(a) => open_with(a.as_ref(), nonce, aad, buf, tag),
            Aead::Ccm256(a) => open_with(a.as_ref(), nonce, aad, buf, tag),
            Aead::Ccm128x8(a) => open_with(a.as_ref(), nonce, aad, buf, tag),
            Aead::Ccm256x8(a) => open_with(a.as_ref(), nonce, aad, buf, tag),
        }
    }
}

/// Which record layer a direction speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Ssl30,
    /// TLS 1.0: CBC IVs chain from record to record.
    Tls10,
    /// TLS 1.1: explicit IVs, the TLS 1.0 PRF.
    Tls11,
    /// TLS 1.2: explicit IVs, the suite's PRF.
    Tls12,
    Tls13,
}

enum Protection {
    Aead(Aead),
    Cbc {
        key: Vec<u8>,
        mac_key: Vec<u8>,
        mac: Hash,
        iv: Vec<u8>,
    },
    Null {
        mac_key: Vec<u8>,
        mac: Hash,
    },
}

/// Why a record did not decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The tag or MAC did not verify (wrong keys, or bytes lost).
    Auth,
    /// Too short or misaligned for the cipher.
    Malformed,
}

/// One direction's record keys and sequence number.
pub struct RecordKeys {
    suite: Suite,
    version: Version,
    protection: Protection,
    /// The IV: TLS 1.3 and ChaCha20 nonce mask, GCM/CCM salt.
    iv: Vec<u8>,
    /// TLS 1.3: the traffic secret, for KeyUpdate.
    secret: Vec<u8>,
    pub seq: u64,
    /// RFC 7366 encrypt_then_mac was negotiated.
    encrypt_then_mac: bool,
}

impl std::fmt::Debug for RecordKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordKeys")
            .field("suite", &self.suite.name)
            .field("seq", &self.seq)
            .finish()
    }
}

/// The client's and the server's keys from a TLS ≤ 1.2 master secret.
pub fn tls12_keys(
    suite: &Suite,
    version: Version,
    master: &[u8],
    client_random: &[u8],
    server_random: &[u8],
    encrypt_then_mac: bool,
) -> Option<(RecordKeys, RecordKeys)> {
    let mac_len = suite.mac.map_or(0, Hash::output_len);
    let key_len = suite.cipher.key_len();
    let iv_len = suite.cipher.fixed_iv_len();
    let total = 2 * (mac_len + key_len + iv_len);
    let mut seed = server_random.to_vec();
    seed.extend_from_slice(client_random);
    let block = match version {
        Version::Ssl30 => ssl3_key_block(master, server_random, client_random, total),
        Version::Tls10 | Version::Tls11 => prf10(master, b"key expansion", &seed, total),
        Version::Tls12 => prf12(suite.prf, master, b"key expansion", &seed, total),
        Version::Tls13 => return None,
    };
    if block.len() != total {
        return None;
    }
    let mut rest = &block[..];
    let mut take = |n: usize| -> Vec<u8> {
        let (a, b) = rest.split_at(n.min(rest.len()));
        rest = b;
        a.to_vec()
    };
    let (cm, sm) = (take(mac_len), take(mac_len));
    let (ck, sk) = (take(key_len), take(key_len));
    let (civ, siv) = (take(iv_len), take(iv_len));
    let make = |mac_key: Vec<u8>, key: Vec<u8>, iv: Vec<u8>| -> Option<RecordKeys> {
        let protection = match (suite.cipher, suite.mac) {
            (Cipher::Null, Some(mac)) => Protection::Null { mac_key, mac },
            (Cipher::Aes128Cbc | Cipher::Aes256Cbc, Some(mac)) => Protection::Cbc {
                key,
                mac_key,
                mac,
                iv: iv.clone(),
            },
            (c, _) => Protection::Aead(Aead::new(c, &key)?),
        };
        Some(RecordKeys {
            suite: *suite,
            version,
            protection,
            iv,
            secret: Vec::new(),
            seq: 0,
            encrypt_then_mac,
        })
    };
    Some((make(cm, ck, civ)?, make(sm, sk, siv)?))
}

/// TLS 1.3 keys from a traffic secret (RFC 8446 §7.3).
pub fn tls13_keys(suite: &Suite, secret: &[u8]) -> Option<RecordKeys> {
    if secret.len() != suite.prf.output_len() {
        return None;
    }
    let key = expand_label(suite.prf, secret, "key", &[], suite.cipher.key_len());
    let iv = expand_label(suite.prf, secret, "iv", &[], 12);
    Some(RecordKeys {
        suite: *suite,
        version: Version::Tls13,
        protection: Protection::Aead(Aead::new(suite.cipher, &key)?),
        iv,
        secret: secret.to_vec(),
        seq: 0,
        encrypt_then_mac: false,
    })
}

/// `iv` XOR the sequence number, right-aligned (RFC 8446 §5.3, RFC 7905).
fn masked_nonce(iv: &[u8], seq: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    for (n, b) in nonce.iter_mut().zip(iv) {
        *n = *b;
    }
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    nonce
}

fn ssl3_mac(hash: Hash, key: &[u8], seq: u64, ctype: u8, content: &[u8]) -> Vec<u8> {
    let len = (content.len() as u16).to_be_bytes();
    let seq = seq.to_be_bytes();
    fn run<D: Digest>(
        pad: usize,
        key: &[u8],
        seq: &[u8],
        ctype: u8,
        len: &[u8],
        content: &[u8],
    ) -> Vec<u8> {
        let inner = D::new()
            .chain_update(key)
            .chain_update(vec![0x36; pad])
            .chain_update(seq)
            .chain_update([ctype])
            .chain_update(len)
            .chain_update(content)
            .finalize();
        D::new()
            .chain_update(key)
            .chain_update(vec![0x5c; pad])
            .chain_update(inner)
            .finalize()
            .to_vec()
    }
    match hash {
        Hash::Md5 => run::<Md5>(48, key, &seq, ctype, &len, content),
        _ => run::<Sha1>(40, key, &seq, ctype, &len, content),
    }
}

impl RecordKeys {
    pub fn suite(&self) -> &Suite {
        &self.suite
    }

    /// Bytes a record adds to its plaintext, besides its header: explicit
    /// nonce or IV, tag or MAC, TLS 1.3's content type (CBC padding, which
    /// varies, is counted as half a block).
    pub fn overhead(&self) -> usize {
        let mac = self.suite.mac.map_or(0, Hash::output_len);
        match (&self.protection, self.version) {
            (Protection::Aead(_), Version::Tls13) => self.suite.cipher.tag_len() + 1,
            (Protection::Aead(_), _) if self.suite.cipher == Cipher::Chacha20Poly1305 => 16,
            (Protection::Aead(_), _) => 8 + self.suite.cipher.tag_len(),
            (Protection::Null { .. }, _) => mac,
            (Protection::Cbc { .. }, Version::Tls11 | Version::Tls12) => 16 + mac + 8,
            (Protection::Cbc { .. }, _) => mac + 8,
        }
    }

    /// TLS 1.0 and SSL 3.0 CBC: the IV the next record chains from (after
    /// a gap, the last ciphertext block before the record found).
    pub fn set_chain_iv(&mut self, block: &[u8]) {
        if matches!(self.version, Version::Ssl30 | Version::Tls10) {
            if let Protection::Cbc { iv, .. } = &mut self.protection {
                *iv = block.to_vec();
            }
        }
    }

    /// TLS 1.3 KeyUpdate: the next generation of this direction's secret
    /// (RFC 8446 §7.2).
    pub fn update(&mut self) -> bool {
        let next = expand_label(
            self.suite.prf,
            &self.secret,
            "traffic upd",
            &[],
            self.suite.prf.output_len(),
        );
        match tls13_keys(&self.suite, &next) {
            Some(k) => {
                *self = k;
                true
            }
            None => false,
        }
    }

    fn tls_mac(
        &self,
        hash: Hash,
        key: &[u8],
        seq: u64,
        ctype: u8,
        version: [u8; 2],
        content: &[u8],
    ) -> Vec<u8> {
        if self.version == Version::Ssl30 {
            return ssl3_mac(hash, key, seq, ctype, content);
        }
        let len = (content.len() as u16).to_be_bytes();
        hmac_with(
            hash,
            key,
            &[&seq.to_be_bytes(), &[ctype], &version, &len, content],
        )
    }

    /// Decrypts one record's body in place: `Ok((content type, range of the
    /// plaintext in body))`. The sequence number advances on success.
    pub fn open(
        &mut self,
        header: [u8; 5],
        body: &mut [u8],
    ) -> Result<(u8, std::ops::Range<usize>), Failure> {
        let seq = self.seq;
        let r = self.open_at(seq, header, body);
        if r.is_ok() {
            self.seq += 1;
        }
        r
    }

    /// As [`open`](Self::open), trying the sequence number `seq`.
    pub fn open_at(
        &mut self,
        seq: u64,
        header: [u8; 5],
        body: &mut [u8],
    ) -> Result<(u8, std::ops::Range<usize>), Failure> {
        let (ctype, version) = (header[0], [header[1], header[2]]);
        match &mut self.protection {
            Protection::Aead(aead) if self.version == Version::Tls13 => {
                let tag_len = self.suite.cipher.tag_len();
                let n = body.len().checked_sub(tag_len).ok_or(Failure::Malformed)?;
                let (text, tag) = body.split_at_mut(n);
                let nonce = masked_nonce(&self.iv, seq);
                if !aead.open(&nonce, &header, text, tag) {
                    return Err(Failure::Auth);
                }
                // The inner content type is the last non-zero byte.
                let end = text
                    .iter()
                    .rposition(|b| *b != 0)
                    .ok_or(Failure::Malformed)?;
                Ok((text[end], 0..end))
            }
            Protection::Aead(aead) => {
                let tag_len = self.suite.cipher.tag_len();
                let (nonce, start) = if self.suite.cipher == Cipher::Chacha20Poly1305 {
                    (masked_nonce(&self.iv, seq), 0)
                } else {
                    // GCM and CCM: 4-byte salt + 8-byte explicit nonce.
                    let explicit = body.get(..8).ok_or(Failure::Malformed)?;
                    let mut nonce = [0u8; 12];
                    nonce[..4].copy_from_slice(self.iv.get(..4).ok_or(Failure::Malformed)?);
                    nonce[4..].copy_from_slice(explicit);
                    (nonce, 8)
                };
                let n = body
                    .len()
                    .checked_sub(tag_len + start)
                    .ok_or(Failure::Malformed)?;
                let mut aad = [0u8; 13];
                aad[..8].copy_from_slice(&seq.to_be_bytes());
                aad[8] = ctype;
                aad[9..11].copy_from_slice(&version);
                aad[11..].copy_from_slice(&(n as u16).to_be_bytes());
                let (text, tag) = body[start..].split_at_mut(n);
                if !aead.open(&nonce, &aad, text, tag) {
                    return Err(Failure::Auth);
                }
                Ok((ctype, start..start + n))
            }
            Protection::Null { mac_key, mac } => {
                let (mac, mac_key) = (*mac, mac_key.clone());
                let n = body
                    .len()
                    .checked_sub(mac.output_len())
                    .ok_or(Failure::Malformed)?;
                let expect = self.tls_mac(mac, &mac_key, seq, ctype, version, &body[..n]);
                if expect != body[n..] {
                    return Err(Failure::Auth);
                }
                Ok((ctype, 0..n))
            }
            Protection::Cbc { .. } => self.open_cbc(seq, ctype, version, body),
        }
    }

    fn open_cbc(
        &mut self,
        seq: u64,
        ctype: u8,
        version: [u8; 2],
        body: &mut [u8],
    ) -> Result<(u8, std::ops::Range<usize>), Failure> {
        let Protection::Cbc {
            key,
            mac_key,
            mac,
            iv,
        } = &self.protection
        else {
            return Err(Failure::Malformed);
        };
        let (mac, mac_key, key, iv) = (*mac, mac_key.clone(), key.clone(), iv.clone());
        let mac_len = mac.output_len();
        let explicit_iv = matches!(self.version, Version::Tls11 | Version::Tls12);
        let mut end = body.len();
        if self.encrypt_then_mac {
            // RFC 7366: the MAC covers IV and ciphertext, and comes last.
            end = end.checked_sub(mac_len).ok_or(Failure::Malformed)?;
            let (cipher, tag) = body.split_at(end);
            let expect = self.tls_mac(mac, &mac_key, seq, ctype, version, cipher);
            if expect != tag {
                return Err(Failure::Auth);
            }
        }
        let (start, record_iv) = if explicit_iv {
            (16, body.get(..16).ok_or(Failure::Malformed)?.to_vec())
        } else {
            (0, iv)
        };
        let cipher = body.get_mut(start..end).ok_or(Failure::Malformed)?;
        if cipher.is_empty() || cipher.len() % 16 != 0 {
            return Err(Failure::Malformed);
        }
        // TLS 1.0 and SSL 3.0 chain: the next record's IV is this one's last
        // ciphertext block.
        if !explicit_iv {
            if let Protection::Cbc { iv, .. } = &mut self.protection {
                *iv = cipher[cipher.len() - 16..].to_vec();
            }
        }
        let ok = match key.len() {
            16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &record_iv)
                .map(|d| decrypt_blocks(d, cipher))
                .is_ok(),
            _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &record_iv)
                .map(|d| decrypt_blocks(d, cipher))
                .is_ok(),
        };
        if !ok {
            return Err(Failure::Malformed);
        }
        let pad = usize::from(*cipher.last().ok_or(Failure::Malformed)?);
        let plain_end = cipher.len().checked_sub(pad + 1).ok_or(Failure::Auth)?;
        // TLS: every padding byte holds the padding length; SSL 3.0 only
        // bounds it by the block size.
        let pad_ok = if self.version == Version::Ssl30 {
            pad < 16
        } else {
            cipher[plain_end..].iter().all(|b| usize::from(*b) == pad)
        };
        if !pad_ok {
            return Err(Failure::Auth);
        }
        if self.encrypt_then_mac {
            return Ok((ctype, start..start + plain_end));
        }
        let content_end = plain_end.checked_sub(mac_len).ok_or(Failure::Auth)?;
        let expect = self.tls_mac(mac, &mac_key, seq, ctype, version, &cipher[..content_end]);
        if expect != cipher[content_end..plain_end] {
            return Err(Failure::Auth);
        }
        Ok((ctype, start..start + content_end))
    }
}

fn decrypt_blocks<C: BlockDecryptMut>(mut d: C, buf: &mut [u8]) {
    for block in buf.chunks_exact_mut(16) {
        d.decrypt_block_mut(GenericArray::from_mut_slice(block));
    }
}

#[cfg(test)]
#[path = "keys/tests.rs"]
mod tests;
