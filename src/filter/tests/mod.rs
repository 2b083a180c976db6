//! The filtering layer's tests: the AWS documentation's examples as a table, what Kafka
//! records add (metadata, key, headers, plain strings), and property tests.

mod aws_examples;
mod kafka;
mod props;
