//! # cc-acd: queue and agent decisions
//!
//! The automatic call distributor of one node, as a pure state machine: who
//! waits in which queue and in which order, which agent is free, and which
//! agent is offered which caller. Time is an input; nothing here dials or
//! waits. The node's call tasks carry out the offers (they dial the agent)
//! and report back (answered, not answered, hung up).
//!
//! This is the single-node ACD the embedded default needs. Sharing queues
//! across nodes through Redis puts this same model behind a store trait (the
//! in-memory store then serves as the model in property tests).
//!
//! Rules kept from the field (FreeSWITCH mod_callcenter, Asterisk app_queue):
//! - callers are served first come, first served within a queue;
//! - an agent in a call, or ringing, is never offered another one;
//! - an offer that is not answered sends the caller back to the head of the
//!   queue (they keep their place) and the agent rests before the next offer;
//! - after a call an agent stays in wrap-up for the queue's wrap-up time.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod acd;

pub use acd::{Acd, AgentStatus, JoinError, Offer, QueueConfig};
