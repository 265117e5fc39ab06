//! shard layer (under construction).
