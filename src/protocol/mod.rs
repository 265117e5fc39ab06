//! The RTMP protocol core, sans-IO: bytes in, values and bytes out.
//!
//! Nothing here touches sockets, clocks or threads, so the server, the relay client, the load
//! tester and the fuzzers all drive exactly the same code. Every decoder bounds what it allocates
//! by the input it was given and by explicit limits.

pub mod amf;
pub mod chunk;
pub mod command;
pub mod control;
pub mod flv;
pub mod handshake;
pub mod message;
pub mod proxy;
