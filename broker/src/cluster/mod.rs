//! Several brokers over one PostgreSQL. Each broker has a random id; after a publish batch
//! commits it tells the others which seqs it committed (`NOTIFY joint`, see [`note`]), and
//! each broker's [`listen`] task reads those from its own dedicated connection and feeds its
//! own subscribers from PostgreSQL. A lost note never loses a delivery: on every
//! (re)connect of that connection, and every `--cluster-check-ms`, the `last_seq` of every
//! group with local subscribers is read and gaps are caught up from storage.
//!
//! One broker alone is a cluster of one: it notifies with nobody listening.

pub mod listen;
pub mod note;
pub mod notes_out;
mod remote;

use std::fmt;

/// A broker's identity within the cluster: 128 random bits, new at every start.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BrokerId(u128);

impl BrokerId {
    /// A fresh random id.
    pub fn random() -> BrokerId {
        let mut bytes = [0u8; 16];
        // The operating system's generator does not fail on any platform the broker runs on.
        getrandom::getrandom(&mut bytes).expect("the OS random generator answers");
        BrokerId(u128::from_le_bytes(bytes))
    }

    /// Reads the 32 hex digits [`BrokerId`]'s `Display` writes.
    pub fn parse(text: &str) -> Option<BrokerId> {
        if text.len() != 32 {
            return None;
        }
        u128::from_str_radix(text, 16).ok().map(BrokerId)
    }
}

impl fmt::Display for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_ids_are_random_and_read_back() {
        let (a, b) = (BrokerId::random(), BrokerId::random());
        assert_ne!(a, b);
        assert_eq!(BrokerId::parse(&a.to_string()), Some(a));
        assert_eq!(BrokerId::parse("xyz"), None);
        assert_eq!(BrokerId::parse(&format!("{:032x}", 5u8)), Some(BrokerId(5)));
    }
}
