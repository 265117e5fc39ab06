//! Byte-moving layers for the shard drivers: what reads, writes, accepts and waits, kept apart from
//! the decisions of the shard core.

pub(crate) mod uring;
