//! The command line's subcommands that have more than a few lines of their own.

pub mod kafka;
pub mod run;
pub mod serve;
