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
