//! Fetched records as the engine sees them: each with the exact bytes it adds to an
//! event, measured by the encoder, so batches close at the payload cap without encoding.

use crate::engine::EngineRecord;
use crate::kafka::wire::records::Record;
use crate::lambda::EventEncoder;

/// Measures records for the engine with the encoder's arithmetic.
pub(super) struct Sizer {
    encoder: EventEncoder,
    envelope: usize,
}

impl Sizer {
    /// A sizer for events of `topic` with this `bootstrapServers` string.
    pub(super) fn new(bootstrap_servers: &str, topic: &str) -> Sizer {
        let encoder = EventEncoder::new(bootstrap_servers);
        // The envelope depends on the partition's digits; the widest partition number
        // makes it an upper bound, so a batch never exceeds the cap (by at most 9 bytes
        // of slack).
        let envelope = encoder.group_envelope_len(topic, i32::MAX);
        Sizer { encoder, envelope }
    }

    pub(super) fn envelope(&self) -> usize {
        self.envelope
    }
}

/// A record with its encoded size.
#[derive(Clone, Debug)]
pub(super) struct EngineRec {
    pub(super) record: Record,
    size: usize,
}

impl EngineRec {
    pub(super) fn new(sizer: &Sizer, topic: &str, partition: i32, record: Record) -> EngineRec {
        let size = sizer.encoder.record_len_in_group(topic, partition, &record);
        EngineRec { record, size }
    }
}

impl EngineRecord for EngineRec {
    fn offset(&self) -> i64 {
        self.record.offset
    }

    fn timestamp(&self) -> i64 {
        self.record.timestamp
    }

    fn encoded_size(&self) -> usize {
        self.size
    }
}
