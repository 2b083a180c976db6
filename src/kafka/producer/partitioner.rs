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
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Kafka's own `UtilsTest.testMurmur2` (clients/src/test/java/org/apache/kafka/common/
    /// utils/UtilsTest.java), value for value.
    #[test]
    fn murmur2_matches_kafka_utils_test() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), expected, "{}", String::from_utf8_lossy(key));
        }
    }

    /// librdkafka's `unittest_murmur2` (src/rdmurmur2.c), whose values it checks against
    /// the Java client's: every tail length, the empty key included.
    #[test]
    fn murmur2_matches_librdkafka_java_vectors() {
        let long = b"PreAmbleWillBeRemoved,ThePrePartThatIs";
        let cases: [(&[u8], u32); 11] = [
            (b"kafka", 0xd067_cf64),
            (b"giberish123456789", 0x8f55_2b0c),
            (b"1234", 0x9fc9_7b14),
            (b"234", 0xe7c0_09ca),
            (b"34", 0x8739_30da),
            (b"4", 0x5a4b_5ca1),
            (long, 0x7842_4f1c),
            (&long[1..], 0x4a62_b377),
            (&long[2..], 0xe0e4_e09e),
            (&long[3..], 0x62b8_b43f),
            (b"", 0x106e_08d9),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key),
                expected.cast_signed(),
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn empty_key_is_hashed_not_round_robined() {
        assert_eq!(murmur2(b""), 0x106e_08d9);
        assert_eq!(partition_for_key(b"", 7), Some(0x106e_08d9 % 7));
        let mut p = DefaultPartitioner::new();
        assert_eq!(p.partition("t", Some(b""), 7), Some(0x106e_08d9 % 7));
        // The round-robin counter was not touched.
        assert_eq!(p.partition("t", None, 7), Some(0));
    }

    #[test]
    fn to_positive_clears_the_sign_bit_only() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-973_932_308), 1_173_551_340);
    }

    #[test]
    fn keyed_partitions_as_java_computes_them() {
        // toPositive(-973932308) = 1173551340.
        assert_eq!(partition_for_key(b"21", 1), Some(0));
        assert_eq!(partition_for_key(b"21", 10), Some(1_173_551_340 % 10));
        assert_eq!(partition_for_key(b"21", 0), None);
        assert_eq!(partition_for_key(b"21", -3), None);
    }

    #[test]
    fn null_keys_go_round_robin_per_topic_from_zero() {
        let mut p = DefaultPartitioner::new();
        let a: Vec<_> = (0..7).map(|_| p.partition("a", None, 3)).collect();
        assert_eq!(a, [0, 1, 2, 0, 1, 2, 0].map(Some));
        // Another topic has its own counter; keyed records do not advance it.
        assert_eq!(p.partition("b", None, 2), Some(0));
        assert_eq!(p.partition("b", Some(b"21"), 2), Some(0));
        assert_eq!(p.partition("b", None, 2), Some(1));
        // A topic without partitions gets none and leaves the counter alone.
        assert_eq!(p.partition("a", None, 0), None);
        assert_eq!(p.partition("a", None, 3), Some(1));
    }

    #[test]
    fn the_round_robin_counter_wraps_as_javas_int_does() {
        let mut p = DefaultPartitioner::new();
        p.counters.insert("t".into(), i32::MAX);
        assert_eq!(p.next_round_robin("t", 10), Some(i32::MAX % 10));
        // i32::MIN, made positive, is 0.
        assert_eq!(p.next_round_robin("t", 10), Some(0));
        assert_eq!(
            p.next_round_robin("t", 10),
            Some(to_positive(i32::MIN + 1) % 10)
        );
    }

    proptest! {
        #[test]
        fn the_partition_is_always_in_range(
            key in proptest::collection::vec(any::<u8>(), 0..64),
            n in prop_oneof![1i32..=16, 1i32..=i32::MAX],
        ) {
            let p = partition_for_key(&key, n).unwrap();
            prop_assert!((0..n).contains(&p));
            prop_assert_eq!(partition_for_key(&key, n), Some(p));
        }

        #[test]
        fn round_robin_is_always_in_range(start in any::<i32>(), n in 1i32..=64, steps in 1usize..200) {
            let mut p = DefaultPartitioner::new();
            p.counters.insert("t".into(), start);
            for _ in 0..steps {
                let got = p.partition("t", None, n).unwrap();
                prop_assert!((0..n).contains(&got));
            }
        }
    }
}
