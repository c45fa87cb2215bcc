//! Which changes can cost money.
//!
//! What a unit may spend is its [`Approved`] envelope: the outbound scope
//! (classes and single numbers) and the number of agents that a unit
//! manager (and, at sign-up, the ICT directorate) approved. A new version
//! of the unit's document that goes beyond it carries cost and waits for a
//! unit manager; one that stays within it applies at once.

use std::collections::BTreeSet;

use cc_flow::document::{OutboundScope, Step};
use cc_flow::UnitDocument;
use cc_numbering::{NumberClass, NumberingPlan, Scope};
use serde::{Deserialize, Serialize};

/// What a unit is approved to spend on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approved {
    /// Outside calls: classes up to a limit, and single numbers.
    pub scope: Scope,
    /// Agents (each an account or a desk-phone line).
    pub max_agents: usize,
}

/// One reason a version carries cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cost {
    /// A forward step (or a number of the outbound scope, `step` then
    /// being `outbound.numbers`) to a number the approved scope does not
    /// allow (a mobile, another province, abroad, a premium line, or a
    /// target the numbering plan does not know).
    Forward {
        step: String,
        target: String,
        class: Option<NumberClass>,
    },
    /// The outbound scope goes beyond the approved one.
    ScopeWidened { from: NumberClass, to: NumberClass },
    /// More agents than approved.
    MoreAgents { approved: usize, proposed: usize },
}

impl std::fmt::Display for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cost::Forward {
                step,
                target,
                class: Some(class),
            } => {
                write!(
                    f,
                    "step {step:?} forwards to {target} ({class}), beyond the approved scope"
                )
            }
            Cost::Forward {
                step,
                target,
                class: None,
            } => {
                write!(
                    f,
                    "step {step:?} forwards to {target}, which the numbering plan does not know"
                )
            }
            Cost::ScopeWidened { from, to } => {
                write!(f, "outbound scope widened from {from} to {to}")
            }
            Cost::MoreAgents { approved, proposed } => {
                write!(f, "{proposed} agents where {approved} are approved")
            }
        }
    }
}

/// The class a document's outbound scope names.
pub fn scope_class(scope: OutboundScope) -> NumberClass {
    match scope {
        OutboundScope::Internal => NumberClass::Internal,
        OutboundScope::Local => NumberClass::Local,
        OutboundScope::National => NumberClass::National,
        OutboundScope::Mobile => NumberClass::Mobile,
        OutboundScope::International => NumberClass::International,
    }
}

/// The forward steps of a document: `(step, target)`.
pub fn forwards(document: &UnitDocument) -> Vec<(String, String)> {
    document
        .flow
        .steps
        .iter()
        .filter_map(|(name, step)| match step {
            Step::Forward(forward) => Some((name.clone(), forward.target.clone())),
            _ => None,
        })
        .collect()
}

impl Approved {
    /// Nothing yet: a unit before its sign-up is approved.
    pub fn nothing() -> Approved {
        Approved {
            scope: Scope::up_to(NumberClass::Internal),
            max_agents: 0,
        }
    }

    /// What approving `document` grants: its outbound scope, the targets
    /// of its forwards (approved one by one), its number of agents.
    pub fn granted_by(document: &UnitDocument, plan: &NumberingPlan) -> Approved {
        let up_to = scope_class(document.outbound.scope);
        let base = Scope::up_to(up_to);
        let numbers: BTreeSet<String> = forwards(document)
            .into_iter()
            .map(|(_, target)| target)
            .chain(document.outbound.numbers.iter().cloned())
            .filter(|target| {
                plan.classify(target)
                    .map(|c| !base.allows(plan, &c))
                    .unwrap_or(false)
            })
            .collect();
        Approved {
            scope: Scope { up_to, numbers },
            max_agents: document.agents.len(),
        }
    }

    /// What stays approved after `granted` is approved too: the wider of
    /// both (approvals add up; narrowing a document spends nothing and
    /// does not take an approval back).
    pub fn merged(&self, granted: &Approved) -> Approved {
        let mut numbers = self.scope.numbers.clone();
        numbers.extend(granted.scope.numbers.iter().cloned());
        Approved {
            scope: Scope {
                up_to: self.scope.up_to.max(granted.scope.up_to),
                numbers,
            },
            max_agents: self.max_agents.max(granted.max_agents),
        }
    }
}

/// What in `proposed` goes beyond `approved`: empty when the version
/// carries no cost.
pub fn assess(approved: &Approved, proposed: &UnitDocument, plan: &NumberingPlan) -> Vec<Cost> {
    let mut costs = Vec::new();
    let wanted = scope_class(proposed.outbound.scope);
    if wanted > approved.scope.up_to {
        costs.push(Cost::ScopeWidened {
            from: approved.scope.up_to,
            to: wanted,
        });
    }
    let numbers = proposed
        .outbound
        .numbers
        .iter()
        .map(|n| ("outbound.numbers".to_string(), n.clone()));
    for (step, target) in forwards(proposed).into_iter().chain(numbers) {
        match plan.classify(&target) {
            Ok(classified) if approved.scope.allows(plan, &classified) => {}
            Ok(classified) => costs.push(Cost::Forward {
                step,
                target,
                class: Some(classified.class),
            }),
            Err(_) => costs.push(Cost::Forward {
                step,
                target,
                class: None,
            }),
        }
    }
    if proposed.agents.len() > approved.max_agents {
        costs.push(Cost::MoreAgents {
            approved: approved.max_agents,
            proposed: proposed.agents.len(),
        });
    }
    costs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(extra_steps: &str, scope: &str, agents: usize) -> UnitDocument {
        let agents: String = (0..agents)
            .map(|i| format!("  - {{ id: a{i}, name: A{i}, uri: \"sip:a{i}@cc.local\", endpoint: microsip }}\n"))
            .collect();
        let yaml = format!(
            "unit: library\nname: Library\nservice_numbers: [\"4100\"]\ntimezone: Europe/Madrid\n\
             agents:\n{agents}\
             outbound: {{ scope: {scope} }}\n\
             flow:\n  start: bye\n  steps:\n    bye:\n      hangup: {{}}\n{extra_steps}"
        );
        serde_norway::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    fn forward(target: &str) -> String {
        format!("    out:\n      forward: {{ target: \"{target}\" }}\n")
    }

    #[test]
    fn a_version_within_what_is_approved_costs_nothing() {
        let plan = NumberingPlan::default();
        let live = document(&forward("4321"), "local", 3);
        let approved = Approved::granted_by(&live, &plan);
        assert_eq!(assess(&approved, &live, &plan), []);
        // Fewer agents, a narrower scope, a forward to a local number.
        let narrower = document(&forward("934123456"), "internal", 2);
        assert_eq!(assess(&approved, &narrower, &plan), []);
    }

    #[test]
    fn a_forward_to_a_mobile_carries_cost_until_approved() {
        let plan = NumberingPlan::default();
        let approved = Approved::granted_by(&document("", "local", 2), &plan);
        let to_mobile = document(&forward("+34 612 345 678"), "local", 2);
        assert_eq!(
            assess(&approved, &to_mobile, &plan),
            [Cost::Forward {
                step: "out".into(),
                target: "+34 612 345 678".into(),
                class: Some(NumberClass::Mobile)
            }]
        );
        // Once approved, the same number (in any spelling) costs nothing
        // more; another mobile does.
        let approved = approved.merged(&Approved::granted_by(&to_mobile, &plan));
        assert_eq!(
            assess(
                &approved,
                &document(&forward("612345678"), "local", 2),
                &plan
            ),
            []
        );
        assert_eq!(
            assess(
                &approved,
                &document(&forward("699000000"), "local", 2),
                &plan
            )
            .len(),
            1
        );
    }

    #[test]
    fn a_wider_scope_and_more_agents_carry_cost() {
        let plan = NumberingPlan::default();
        let approved = Approved::granted_by(&document("", "local", 2), &plan);
        let costs = assess(&approved, &document("", "international", 5), &plan);
        assert_eq!(
            costs,
            [
                Cost::ScopeWidened {
                    from: NumberClass::Local,
                    to: NumberClass::International
                },
                Cost::MoreAgents {
                    approved: 2,
                    proposed: 5
                }
            ]
        );
        assert!(costs.iter().all(|c| !c.to_string().is_empty()));
    }

    #[test]
    fn a_sign_up_is_assessed_against_nothing() {
        let plan = NumberingPlan::default();
        let costs = assess(&Approved::nothing(), &document("", "internal", 1), &plan);
        assert_eq!(
            costs,
            [Cost::MoreAgents {
                approved: 0,
                proposed: 1
            }]
        );
    }
}
