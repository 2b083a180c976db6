//! ApiVersions (key 18): which versions of each API a broker supports.
//!
//! Brokers answer a version of ApiVersions they don't support with error
//! UNSUPPORTED_VERSION and their list in the v0 format, so the client can retry with a
//! version they do (KIP-511); [`decode`] reports that as [`Outcome::Retry`]. Brokers
//! from Kafka 0.10.0 on support v0; flexible versions (v3+) carry tagged fields, which
//! are skipped.

use crate::kafka::protocol::{DecodeError, Reader};
use bytes::Bytes;

/// The newest ApiVersions version we send.
pub const MAX_VERSION: i16 = 3;

/// Kafka's UNSUPPORTED_VERSION error code.
const UNSUPPORTED_VERSION: i16 = 35;

/// The version ranges a broker supports, by API key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiVersions {
    /// (api key, min version, max version), sorted by key.
    ranges: Vec<(i16, i16, i16)>,
}

impl ApiVersions {
    pub fn new(mut ranges: Vec<(i16, i16, i16)>) -> ApiVersions {
        ranges.sort_unstable();
        ApiVersions { ranges }
    }

    /// The broker's range for `key`.
    pub fn range(&self, key: i16) -> Option<(i16, i16)> {
        self.ranges
            .binary_search_by_key(&key, |r| r.0)
            .ok()
            .map(|i| (self.ranges[i].1, self.ranges[i].2))
    }

    /// The highest version in `lo..=hi` (ours) that the broker also supports.
    pub fn pick(&self, key: i16, lo: i16, hi: i16) -> Option<i16> {
        let (min, max) = self.range(key)?;
        let v = hi.min(max);
        (v >= lo.max(min)).then_some(v)
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Lowers the broker's maximum for `key` to `max` (to talk as to an older broker);
    /// an API left with no version is removed.
    pub fn cap(&mut self, key: i16, max: i16) {
        for r in &mut self.ranges {
            if r.0 == key {
                r.2 = r.2.min(max);
            }
        }
        self.ranges.retain(|r| r.1 <= r.2);
    }
}

/// What an ApiVersions response says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The broker's versions.
    Supported(ApiVersions),
    /// The broker doesn't speak the version asked; ask again at `version`.
    Retry { version: i16 },
    /// Any other error code.
    Refused { error_code: i16 },
}

/// Decodes an ApiVersions response body requested at `version`.
pub fn decode(body: Bytes, version: i16) -> Result<Outcome, DecodeError> {
    let mut r = Reader::new(body);
    let error_code = r.read_i16("ApiVersions error_code")?;
    if error_code == UNSUPPORTED_VERSION {
        // The rest should be the v0 layout whatever we asked for, naming the broker's
        // ApiVersions range. Some brokers get that layout wrong (librdkafka's mock
        // cluster writes a one-byte count): then ask again at v0, which every broker
        // since 0.10.0 speaks.
        let max = read_ranges(&mut r, false)
            .ok()
            .and_then(|versions| versions.range(18))
            .map_or(0, |(_, max)| max);
        return Ok(Outcome::Retry {
            version: max.min(MAX_VERSION),
        });
    }
    if error_code != 0 {
        return Ok(Outcome::Refused { error_code });
    }
    let flexible = version >= 3;
    let versions = read_ranges(&mut r, flexible)?;
    if version >= 1 {
        r.read_i32("ApiVersions throttle_time_ms")?;
    }
    if flexible {
        r.skip_tagged_fields("ApiVersions tagged fields")?;
    }
    Ok(Outcome::Supported(versions))
}

fn read_ranges(r: &mut Reader, flexible: bool) -> Result<ApiVersions, DecodeError> {
    const FIELD: &str = "ApiVersions api_keys";
    let count = if flexible {
        r.read_compact_array_len(FIELD, 7)?
    } else {
        r.read_array_len(FIELD, 6)?
    };
    let mut ranges = Vec::with_capacity(count);
    for _ in 0..count {
        let key = r.read_i16("ApiVersions api_key")?;
        let min = r.read_i16("ApiVersions min_version")?;
        let max = r.read_i16("ApiVersions max_version")?;
        if flexible {
            r.skip_tagged_fields("ApiVersions api_keys tagged fields")?;
        }
        ranges.push((key, min, max));
    }
    Ok(ApiVersions::new(ranges))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::protocol::messages::testing::{assert_truncations_fail, encode};
    use bytes::BufMut;
    use kafka_protocol::messages::ApiVersionsResponse;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips_every_version(
            keys in proptest::collection::vec((0i16..100, 0i16..5, 0i16..20), 0..40),
            version in 0i16..=3,
            throttle in any::<i32>(),
        ) {
            let resp = ApiVersionsResponse::default()
                .with_throttle_time_ms(throttle)
                .with_api_keys(keys.iter().map(|&(k, min, extra)| {
                    ApiVersion::default().with_api_key(k).with_min_version(min).with_max_version(min + extra)
                }).collect());
            let got = decode(encode(&resp, version), version).unwrap();
            let want = ApiVersions::new(keys.iter().map(|&(k, min, extra)| (k, min, min + extra)).collect());
            prop_assert_eq!(got, Outcome::Supported(want));
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..64), version in 0i16..=3) {
            let _ = decode(Bytes::from(data), version);
        }
    }

    #[test]
    fn unsupported_version_answer_asks_for_a_retry_at_the_brokers_max() {
        // error 35, then the v0 list: ApiVersions (18) 0..=2, Fetch (1) 0..=11.
        let mut b = bytes::BytesMut::new();
        b.put_i16(35);
        b.put_i32(2);
        for (k, lo, hi) in [(18i16, 0i16, 2i16), (1, 0, 11)] {
            b.put_i16(k);
            b.put_i16(lo);
            b.put_i16(hi);
        }
        assert_eq!(
            decode(b.freeze(), 3).unwrap(),
            Outcome::Retry { version: 2 }
        );
    }

    #[test]
    fn a_garbled_unsupported_version_answer_falls_back_to_v0() {
        // As librdkafka's mock cluster sends it: a one-byte count.
        let body = Bytes::from_static(&[0, 35, 1, 0, 18, 0, 0, 0, 2, 0, 0, 0, 0]);
        assert_eq!(decode(body, 3).unwrap(), Outcome::Retry { version: 0 });
    }

    #[test]
    fn lying_counts_are_refused_before_allocating() {
        let mut b = bytes::BytesMut::new();
        b.put_i16(0);
        b.put_i32(i32::MAX);
        let err = decode(b.freeze(), 0).unwrap_err();
        assert!(matches!(err, DecodeError::CountTooLarge { .. }), "{err}");
    }

    #[test]
    fn every_truncation_is_an_error() {
        let resp = ApiVersionsResponse::default().with_api_keys(vec![
            ApiVersion::default().with_api_key(1).with_max_version(12),
            ApiVersion::default().with_api_key(3).with_max_version(12),
        ]);
        for version in 0..=3 {
            let full = encode(&resp, version);
            assert_truncations_fail(&full, &format!("v{version}"), |b| decode(b, version));
        }
    }

    #[test]
    fn pick_takes_the_highest_common_version() {
        let v = ApiVersions::new(vec![(1, 4, 12), (3, 0, 9)]);
        assert_eq!(v.pick(1, 4, 18), Some(12));
        assert_eq!(v.pick(1, 0, 3), None);
        assert_eq!(v.pick(3, 1, 5), Some(5));
        assert_eq!(v.pick(2, 0, 5), None);
    }
}
