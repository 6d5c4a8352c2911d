//! TCP sequence numbers: 32-bit, compared modulo 2^32 (RFC 793 section 3.3,
//! RFC 1982 serial number arithmetic). Raw `u32` comparisons are wrong at the
//! wrap, so every comparison goes through this type.

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The sequence number `n` bytes later.
    pub fn plus(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }

    /// Signed distance from `base` to `self`: positive when `self` is after
    /// `base`. Two numbers exactly 2^31 apart have no defined order; this
    /// returns `i32::MIN` for them, which callers treat as "far away".
    pub fn since(self, base: SeqNum) -> i32 {
        self.0.wrapping_sub(base.0) as i32
    }

    /// Forward distance from `self` to `later`, if `later` is not before
    /// `self`.
    pub fn distance_to(self, later: SeqNum) -> Option<u32> {
        let d = later.since(self);
        (d >= 0).then_some(d as u32)
    }

    /// Wrap-aware ordering.
    pub fn cmp_wrapping(self, other: SeqNum) -> Ordering {
        self.since(other).cmp(&0)
    }

    pub fn is_after(self, other: SeqNum) -> bool {
        self.since(other) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_across_the_wrap() {
        let before = SeqNum(u32::MAX - 10);
        let after = before.plus(20);
        assert_eq!(after, SeqNum(9));
        assert!(after.is_after(before));
        assert!(!before.is_after(after));
        assert_eq!(after.since(before), 20);
        assert_eq!(before.since(after), -20);
        assert_eq!(before.distance_to(after), Some(20));
        assert_eq!(after.distance_to(before), None);
        assert_eq!(before.cmp_wrapping(after), Ordering::Less);
        assert_eq!(after.cmp_wrapping(after), Ordering::Equal);
    }

    #[test]
    fn half_the_space_apart_is_far() {
        let a = SeqNum(0);
        let b = SeqNum(1 << 31);
        assert_eq!(b.since(a), i32::MIN);
        assert_eq!(a.distance_to(b), None);
    }
}
