//! The life of a request: a unit's sign-up, or a new version of its
//! configuration (a change or a rollback).
//!
//! - A **sign-up** goes live once a manager of the unit has authorised it
//!   and the ICT directorate has approved it, in either order.
//! - A **change** that carries cost (see [`crate::cost`]) goes live once a
//!   manager of the unit who is not the one who asked approves it (the ICT
//!   directorate may approve too, standing in for nobody's second pair of
//!   eyes: it still needs the unit's manager).
//! - A **change** that carries no cost goes live at once.
//! - Anyone who may approve may reject instead, with a reason; a rejected
//!   or applied request is closed.

use serde::{Deserialize, Serialize};

use crate::cost::Cost;
use crate::roles::{Actor, Permission, Role};

/// What is asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestKind {
    /// A new unit (its first version).
    SignUp,
    /// A new version of a live unit, with what in it carries cost.
    Change { costs: Vec<Cost> },
}

/// An approval a request still waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// A manager of the unit; `not` is the requester when they may not
    /// approve their own request.
    UnitManager { not: Option<String> },
    /// The ICT directorate.
    IctDirectorate,
}

/// Where a request stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RequestState {
    Pending { needs: Vec<Need> },
    Applied,
    Rejected { by: String, reason: String },
}

/// A request and who asked for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub unit: String,
    pub kind: RequestKind,
    pub requested_by: Actor,
    pub state: RequestState,
}

/// An approver's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject { reason: String },
}

/// What a decision led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded; still waiting for the approvals listed.
    StillPending(Vec<Need>),
    /// Every approval is in: the version goes live.
    Apply,
    /// Rejected: closed, nothing changes.
    Rejected,
}

/// Why a decision or a request is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("this request is already {0}")]
    Closed(&'static str),
    #[error("{role} {user} may not decide on requests of unit {unit}")]
    NotAllowed {
        user: String,
        role: &'static str,
        unit: String,
    },
    #[error("{0} asked for this change and may not approve it: another manager of the unit must")]
    OwnRequest(String),
    #[error("{0} has already approved this request")]
    AlreadyApproved(String),
    #[error("a rejection needs a reason")]
    ReasonRequired,
    #[error("{role} {user} may not propose changes to unit {unit}")]
    MayNotPropose {
        user: String,
        role: &'static str,
        unit: String,
    },
}

impl Request {
    /// A new request by `requester`. A change that carries no cost is
    /// applied at once (its state is [`RequestState::Applied`]).
    pub fn new(unit: &str, kind: RequestKind, requester: Actor) -> Result<Request, RuleError> {
        if !requester.may(Permission::ProposeChange, Some(unit)) {
            return Err(RuleError::MayNotPropose {
                user: requester.user.clone(),
                role: requester.role.name(),
                unit: unit.to_string(),
            });
        }
        let needs = match &kind {
            RequestKind::SignUp => vec![Need::UnitManager { not: None }, Need::IctDirectorate],
            RequestKind::Change { costs } if costs.is_empty() => Vec::new(),
            RequestKind::Change { .. } => vec![Need::UnitManager {
                not: Some(requester.user.clone()),
            }],
        };
        let state = if needs.is_empty() {
            RequestState::Applied
        } else {
            RequestState::Pending { needs }
        };
        Ok(Request {
            unit: unit.to_string(),
            kind,
            requested_by: requester,
            state,
        })
    }

    /// Whether the version carries cost or is a sign-up, i.e. waits.
    pub fn is_pending(&self) -> bool {
        matches!(self.state, RequestState::Pending { .. })
    }

    /// `actor` decides. `approved_by` lists who already approved (the
    /// shell keeps them), so that one person never counts twice.
    pub fn decide(
        &mut self,
        actor: &Actor,
        decision: Decision,
        approved_by: &[String],
    ) -> Result<Outcome, RuleError> {
        let needs = match &self.state {
            RequestState::Pending { needs } => needs.clone(),
            RequestState::Applied => return Err(RuleError::Closed("applied")),
            RequestState::Rejected { .. } => return Err(RuleError::Closed("rejected")),
        };
        if !actor.may(Permission::Decide, Some(&self.unit)) {
            return Err(RuleError::NotAllowed {
                user: actor.user.clone(),
                role: actor.role.name(),
                unit: self.unit.clone(),
            });
        }
        if let Decision::Reject { reason } = decision {
            if reason.trim().is_empty() {
                return Err(RuleError::ReasonRequired);
            }
            self.state = RequestState::Rejected {
                by: actor.user.clone(),
                reason,
            };
            return Ok(Outcome::Rejected);
        }
        if approved_by.contains(&actor.user) {
            return Err(RuleError::AlreadyApproved(actor.user.clone()));
        }
        // Which need this approval meets.
        let met = needs.iter().position(|need| match (need, actor.role) {
            (Need::UnitManager { not }, Role::UnitManager) => not.as_deref() != Some(&actor.user),
            (Need::IctDirectorate, Role::IctDirectorate) => true,
            _ => false,
        });
        let Some(index) = met else {
            let own = needs
                .iter()
                .any(|n| matches!(n, Need::UnitManager { not: Some(u) } if *u == actor.user));
            if own {
                return Err(RuleError::OwnRequest(actor.user.clone()));
            }
            return Err(RuleError::NotAllowed {
                user: actor.user.clone(),
                role: actor.role.name(),
                unit: self.unit.clone(),
            });
        };
        let mut needs = needs;
        needs.remove(index);
        if needs.is_empty() {
            self.state = RequestState::Applied;
            Ok(Outcome::Apply)
        } else {
            self.state = RequestState::Pending {
                needs: needs.clone(),
            };
            Ok(Outcome::StillPending(needs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cc_numbering::NumberClass;

    fn actor(user: &str, role: Role, unit: Option<&str>) -> Actor {
        Actor {
            user: user.into(),
            role,
            unit: unit.map(str::to_string),
        }
    }

    fn mobile_forward() -> RequestKind {
        RequestKind::Change {
            costs: vec![Cost::Forward {
                step: "out".into(),
                target: "612345678".into(),
                class: Some(NumberClass::Mobile),
            }],
        }
    }

    #[test]
    fn a_sign_up_needs_the_unit_manager_and_the_ict_directorate_in_either_order() {
        let supervisor = actor("sam", Role::Supervisor, Some("library"));
        let manager = actor("maria", Role::UnitManager, Some("library"));
        let ict = actor("irene", Role::IctDirectorate, None);
        for order in [[&manager, &ict], [&ict, &manager]] {
            let mut request =
                Request::new("library", RequestKind::SignUp, supervisor.clone()).unwrap();
            assert!(request.is_pending());
            let first = request.decide(order[0], Decision::Approve, &[]).unwrap();
            assert!(matches!(first, Outcome::StillPending(ref n) if n.len() == 1));
            // The same person twice does not count twice.
            assert_eq!(
                request.decide(order[0], Decision::Approve, &[order[0].user.clone()]),
                Err(RuleError::AlreadyApproved(order[0].user.clone()))
            );
            let second = request
                .decide(order[1], Decision::Approve, &[order[0].user.clone()])
                .unwrap();
            assert_eq!(second, Outcome::Apply);
            assert_eq!(request.state, RequestState::Applied);
        }
    }

    #[test]
    fn a_costly_change_waits_for_another_manager_of_the_unit() {
        let asking = actor("maria", Role::UnitManager, Some("library"));
        let mut request = Request::new("library", mobile_forward(), asking.clone()).unwrap();
        assert_eq!(
            request.decide(&asking, Decision::Approve, &[]),
            Err(RuleError::OwnRequest("maria".into()))
        );
        let other_unit = actor("olga", Role::UnitManager, Some("admissions"));
        assert!(matches!(
            request.decide(&other_unit, Decision::Approve, &[]),
            Err(RuleError::NotAllowed { .. })
        ));
        let supervisor = actor("sam", Role::Supervisor, Some("library"));
        assert!(matches!(
            request.decide(&supervisor, Decision::Approve, &[]),
            Err(RuleError::NotAllowed { .. })
        ));
        // The ICT directorate may look, but the unit's manager must approve.
        let ict = actor("irene", Role::IctDirectorate, None);
        assert!(matches!(
            request.decide(&ict, Decision::Approve, &[]),
            Err(RuleError::NotAllowed { .. })
        ));
        assert!(request.is_pending());
        let other = actor("marc", Role::UnitManager, Some("library"));
        assert_eq!(
            request.decide(&other, Decision::Approve, &[]),
            Ok(Outcome::Apply)
        );
        assert!(matches!(
            request.decide(&other, Decision::Approve, &[]),
            Err(RuleError::Closed("applied"))
        ));
    }

    #[test]
    fn a_change_without_cost_applies_at_once() {
        let supervisor = actor("sam", Role::Supervisor, Some("library"));
        let request =
            Request::new("library", RequestKind::Change { costs: vec![] }, supervisor).unwrap();
        assert_eq!(request.state, RequestState::Applied);
    }

    #[test]
    fn a_rejection_needs_a_reason_and_closes_the_request() {
        let asking = actor("sam", Role::Supervisor, Some("library"));
        let manager = actor("maria", Role::UnitManager, Some("library"));
        let mut request = Request::new("library", mobile_forward(), asking).unwrap();
        assert_eq!(
            request.decide(&manager, Decision::Reject { reason: " ".into() }, &[]),
            Err(RuleError::ReasonRequired)
        );
        assert_eq!(
            request.decide(
                &manager,
                Decision::Reject {
                    reason: "no budget".into()
                },
                &[]
            ),
            Ok(Outcome::Rejected)
        );
        assert!(
            matches!(request.state, RequestState::Rejected { ref reason, .. } if reason == "no budget")
        );
        assert!(request.decide(&manager, Decision::Approve, &[]).is_err());
    }

    #[test]
    fn agents_and_the_noc_propose_nothing() {
        for who in [
            actor("ada", Role::Agent, Some("library")),
            actor("nico", Role::NocViewer, None),
            actor("sam", Role::Supervisor, Some("admissions")),
        ] {
            assert!(matches!(
                Request::new("library", RequestKind::SignUp, who),
                Err(RuleError::MayNotPropose { .. })
            ));
        }
    }
}
