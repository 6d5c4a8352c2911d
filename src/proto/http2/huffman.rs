//! The HPACK Huffman code (RFC 7541 §5.2, Appendix B).
//!
//! The code is canonical: ordered by length and then by symbol, each code
//! is the previous one plus one, shifted left when the length grows. So the
//! appendix's table is given here by its code lengths alone, and the codes
//! and the decoding tables are derived from them once (a test checks
//! derived codes against the appendix).

use std::sync::OnceLock;

/// Code length in bits of each symbol 0..=255 and of EOS (256), from
/// RFC 7541 Appendix B.
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS: u16 = 256;
const MIN_LEN: usize = 5;
const MAX_LEN: usize = 30;

/// Why a Huffman string did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuffmanError {
    /// The string holds the EOS symbol (§5.2: a decoding error).
    Eos,
    /// More than 7 bits of padding, or padding that is not EOS's prefix.
    Padding,
}

/// Canonical decoding tables: for each length, its first code, how many
/// codes it has, and where its symbols start in `symbols`.
struct Tables {
    first: [u32; MAX_LEN + 1],
    count: [u32; MAX_LEN + 1],
    offset: [u32; MAX_LEN + 1],
    /// Symbols ordered by (length, symbol).
    symbols: [u16; 257],
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut t = Tables {
            first: [0; MAX_LEN + 1],
            count: [0; MAX_LEN + 1],
            offset: [0; MAX_LEN + 1],
            symbols: [0; 257],
        };
        for &len in &LENGTHS {
            t.count[len as usize] += 1;
        }
        let (mut code, mut at) = (0u32, 0u32);
        for len in 1..=MAX_LEN {
            t.first[len] = code;
            t.offset[len] = at;
            code = (code + t.count[len]) << 1;
            at += t.count[len];
        }
        let mut next = t.offset;
        for (sym, &len) in LENGTHS.iter().enumerate() {
            t.symbols[next[len as usize] as usize] = sym as u16;
            next[len as usize] += 1;
        }
        t
    })
}

/// The code of `symbol` (for tests against the appendix).
#[cfg(test)]
pub fn code(symbol: u16) -> (u32, u8) {
    let t = tables();
    let len = LENGTHS[symbol as usize] as usize;
    let start = t.offset[len] as usize;
    let rank = t.symbols[start..start + t.count[len] as usize]
        .iter()
        .position(|&s| s == symbol)
        .unwrap_or(0);
    (t.first[len] + rank as u32, len as u8)
}

/// Decodes `input`, appending the octets to `out`.
pub fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let t = tables();
    out.reserve(input.len() * 8 / 5);
    // Bits not yet decoded, left in the low `bits` bits of `acc`.
    let mut acc: u64 = 0;
    let mut bits = 0usize;
    let mut bytes = input.iter();
    loop {
        while bits <= 56 {
            match bytes.next() {
                Some(&b) => {
                    acc = (acc << 8) | u64::from(b);
                    bits += 8;
                }
                None => break,
            }
        }
        if bits < MIN_LEN {
            break;
        }
        let mut found = None;
        for len in MIN_LEN..=MAX_LEN.min(bits) {
            let v = ((acc >> (bits - len)) & ((1u64 << len) - 1)) as u32;
            // Canonical: past the shorter lengths, v >= first[len].
            let rank = v.wrapping_sub(t.first[len]);
            if v >= t.first[len] && rank < t.count[len] {
                found = Some((t.symbols[(t.offset[len] + rank) as usize], len));
                break;
            }
        }
        match found {
            Some((EOS, _)) => return Err(HuffmanError::Eos),
            Some((sym, len)) => {
                out.push(sym as u8);
                bits -= len;
            }
            // No whole code in what is left: the padding.
            None => break,
        }
    }
    // §5.2: at most 7 bits, all ones (the most significant bits of EOS).
    let mask = (1u64 << bits) - 1;
    if bits > 7 || acc & mask != mask {
        return Err(HuffmanError::Padding);
    }
    Ok(())
}
