//! The Java producer's default partitioner: which partition a record goes to.
//!
//! A keyed record goes to `toPositive(murmur2(key)) % numPartitions`, byte for byte what
//! Kafka's `Utils.murmur2` and `Utils.toPositive` compute, so a key lands where every Java
//! (and librdkafka `murmur2_random`) producer puts it. A record without a key goes round
//! robin over the topic's partitions, one counter per topic starting at 0 (Java starts at
//! a random value, and since 2.4 sticks to one partition per batch instead; only keyed
//! placement is a compatibility contract). This module owns the arithmetic only: it never
//! looks at metadata, leaders or partition availability, and keeps no clock.

use std::collections::HashMap;

/// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`, as the Java `int`
/// it returns.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    // Mixing constants.
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java's `int` length: keys are far below 2 GiB, and truncating is what Java would
    // do anyway.
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // The last 1 to 3 bytes: Java's `switch (length % 4)` with fall-through.
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h.cast_signed()
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`: `i32::MIN` maps to 0).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition the Java producer picks for a record keyed `key` in a topic of
/// `num_partitions` partitions; None when the topic has none.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> Option<i32> {
    (num_partitions > 0).then(|| to_positive(murmur2(key)) % num_partitions)
}

/// The default partitioner: murmur2 for keyed records, round robin per topic for records
/// without a key. Deterministic: every topic's counter starts at 0.
#[derive(Clone, Debug, Default)]
pub struct DefaultPartitioner {
    /// The next round-robin value per topic, wrapping as Java's `int` counter does.
    counters: HashMap<String, i32>,
}

impl DefaultPartitioner {
    pub fn new() -> Self {
        Self::default()
    }

    /// The partition for a record of `topic` keyed `key` (None: no key) when the topic
    /// has `num_partitions` partitions; None when it has none.
    pub fn partition(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        num_partitions: i32,
    ) -> Option<i32> {
        match key {
            Some(key) => partition_for_key(key, num_partitions),
            None => self.next_round_robin(topic, num_partitions),
        }
    }

    /// The next partition for a record of `topic` without a key, advancing that topic's
    /// counter; None (and the counter left alone) when the topic has no partitions.
    pub fn next_round_robin(&mut self, topic: &str, num_partitions: i32) -> Option<i32> {
        if num_partitions <= 0 {
            return None;
        }
        let counter = match self.counters.get_mut(topic) {
            Some(counter) => counter,
            None => self.counters.entry(topic.to_owned()).or_insert(0),
        };
        let value = *counter;
        *counter = counter.wrapping_add(1);
        Some(to_positive(value) % num_partitions)
    }
}

#[cfg(test)]
mod tests;
