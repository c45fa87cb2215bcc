//! The node's media I/O: RTP ports, and the pacer thread that sends every
//! prompt and music-on-hold frame of the node on its 20 ms schedule.

pub mod engine;
pub mod ports;
