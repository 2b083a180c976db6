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
mod tests;
