//! Branches, tags and Call-IDs.
//!
//! They must be unique across nodes and restarts (RFC 3261 §8.1.1.7, §19.3),
//! but the core takes no randomness from the system: the shell seeds an
//! [`IdGenerator`] once (from the OS and the node's name), tests seed it with
//! a constant and get the same identifiers every run.

/// A deterministic generator of SIP identifiers (splitmix64 over a counter).
#[derive(Clone, Debug)]
pub struct IdGenerator {
    seed: u64,
    counter: u64,
}

impl IdGenerator {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        IdGenerator { seed, counter: 0 }
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        let mut z = self
            .seed
            .wrapping_add(self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A Via branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.next_u64())
    }

    /// A From or To tag.
    pub fn tag(&mut self) -> String {
        format!("{:012x}", self.next_u64() >> 16)
    }

    /// A Call-ID, globally unique with the host part.
    pub fn call_id(&mut self, host: &str) -> String {
        format!(
            "{:016x}{:08x}@{host}",
            self.next_u64(),
            self.next_u64() as u32
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_ids_and_ids_do_not_repeat() {
        let mut a = IdGenerator::new(7);
        let mut b = IdGenerator::new(7);
        assert_eq!(a.branch(), b.branch());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(a.tag()));
        }
    }
}
