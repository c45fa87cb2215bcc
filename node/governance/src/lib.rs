//! The rules of the service, as pure decisions the API's shell applies.
//!
//! - [`roles`]: who someone is on the platform (ICT directorate, a unit's
//!   manager, supervisor, agent, NOC viewer) and what each may do.
//! - [`cost`]: whether a new version of a unit's configuration can cost
//!   money compared with what is approved (forwards beyond the approved
//!   scope, a wider outbound scope, more agents).
//! - [`request`]: the life of a sign-up or a change: which approvals it
//!   needs, and the decision each approval or rejection leads to.
//! - [`diff`]: what a version changes, for the audit trail.
//!
//! Nothing here touches a database or a clock: the shell passes who acts
//! and when, and records what these functions decide.

pub mod cost;
pub mod diff;
pub mod request;
pub mod roles;

pub use cost::{assess, Approved, Cost};
pub use diff::{diff, Difference};
pub use request::{Decision, Need, Outcome, Request, RequestKind, RequestState, RuleError};
pub use roles::{Actor, Permission, Role};
