//! The mapping's state as AWS reports it for an event source mapping: `State`,
//! `StateTransitionReason` and `LastProcessingResult`, kept by the runtime and published
//! on a watch channel (the CLI prints a line when it changes; tests await it).

use std::fmt;

/// An event source mapping's `State`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Creating,
    Enabling,
    Enabled,
    Disabling,
    Disabled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Creating => "Creating",
            State::Enabling => "Enabling",
            State::Enabled => "Enabled",
            State::Disabling => "Disabling",
            State::Disabled => "Disabled",
        }
    }
}

/// What `GetEventSourceMapping` would show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingStatus {
    pub state: State,
    /// Why the state last changed: `USER_INITIATED`, or a documented reason
    /// (`ESM_CONFIG_NOT_VALID`, `EVENT_SOURCE_AUTHN_ERROR`, ...).
    pub state_transition_reason: String,
    /// `No records processed`, `OK`, or `PROBLEM: ...`.
    pub last_processing_result: String,
    pub records_invoked: u64,
    pub records_dropped: u64,
    /// Consumers (group members) running now.
    pub consumers: u32,
}

impl Default for MappingStatus {
    fn default() -> Self {
        MappingStatus {
            state: State::Creating,
            state_transition_reason: "USER_INITIATED".into(),
            last_processing_result: "No records processed".into(),
            records_invoked: 0,
            records_dropped: 0,
            consumers: 0,
        }
    }
}

impl fmt::Display for MappingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "State: {} ({}); LastProcessingResult: {}; records invoked {}, dropped {}",
            self.state.as_str(),
            self.state_transition_reason,
            self.last_processing_result,
            self.records_invoked,
            self.records_dropped
        )
    }
}

/// Publishes `text` as the `LastProcessingResult`, logging it when it changes.
pub(super) fn set_last_processing_result(
    status: &tokio::sync::watch::Sender<MappingStatus>,
    text: String,
) {
    status.send_if_modified(|s| {
        if s.last_processing_result == text {
            return false;
        }
        tracing::info!(last_processing_result = %text, "processing result changed");
        s.last_processing_result = text;
        true
    });
}
