//! # cc-acd: queues and agents
//!
//! The automatic call distributor, shared by every node of the cluster. It
//! decides who waits in which queue and in which order, which agent is free,
//! reserved (ringing), on a call, in wrap-up or paused, and which agent is
//! offered which caller.
//!
//! ```text
//!   model.rs   the specification: every operation over plain data
//!      │        (join, leave, answered, failed, call ended, login/out,
//!      │         pause, tick, reap a dead node), each ending by matching
//!      ▼
//!   AcdStore   one async interface, two stores:
//!      ├── MemoryStore   the model in a mutex (the single-node default)
//!      └── RedisStore    (crate cc-acd-redis) the same operations as Lua
//!                        scripts, atomic, over keys hash-tagged by unit
//! ```
//!
//! Operations answer their caller and produce [`Effects`]: [`Notice`]s for
//! the node holding a call ("ring this agent", "the caller timed out") and
//! [`QueueEvent`]s in the vocabulary of Asterisk's queue_log. The node that
//! holds the caller dials the agent; the match may be made on any node.
//!
//! Rules kept from the field (FreeSWITCH mod_callcenter, Asterisk app_queue):
//! callers are served by priority, then first come first served across
//! nodes; an agent in a call or ringing is never offered another; an offer
//! that is not taken leaves the caller in their place and rests the agent,
//! who is paused after `max_misses` misses; wrap-up per queue or per agent;
//! lower levels first, higher levels join after each escalation period;
//! ring-all offers every free agent of the lowest level at once; a caller
//! who hangs up and calls back within the resume window gets their place.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod model;
pub mod store;
pub mod types;

pub use model::Model;
pub use store::{AcdStore, MemoryStore, StoreError, EVENTS_KEPT};
pub use types::*;
