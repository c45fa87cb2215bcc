//! # cc-flow: a unit's document and its call flow
//!
//! A unit of the university describes its attention centre in one document
//! ([`document::UnitDocument`], YAML): service numbers, time zone and
//! calendar, prompts, agents and their endpoints, supervisors, queues, tags,
//! outbound scope and the call flow. [`validate`] checks a document and
//! compiles it into a [`Unit`], naming the file and step of every problem;
//! [`FlowRun`] walks a call through the unit's flow.
//!
//! ```text
//!  YAML ──serde──► UnitDocument ──validate──► Unit { calendar, flow (indices) }
//!                                                │
//!            events (digit, playback done, ──► FlowRun ──► actions (play, enqueue,
//!            queue outcome, hang-up, …)                    record, forward, hang up)
//! ```
//!
//! Nothing here does I/O or reads the clock: the interpreter takes `now` with
//! every event, which is how the `hours` step and every flow are tested.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod calendar;
pub mod document;
pub mod dry_run;
pub mod interpreter;
pub mod unit;
pub mod validate;

pub use calendar::{Calendar, HoursStatus};
pub use document::{UnitDocument, UniversityCalendar};
pub use dry_run::{dry_run, DryRun};
pub use interpreter::{Action, FlowEvent, FlowRun, ForwardOutcome, Outcome, QueueOutcome};
pub use unit::{CompiledStep, Flow, StepId, Unit};
pub use validate::{load_unit, validate, ValidationError, ValidationErrors};
