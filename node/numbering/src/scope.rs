//! A unit's approved scope of outside calls, and the check made at dial
//! time.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{Classified, NumberClass, NumberError, NumberingPlan};

/// What a unit is approved to dial: every class up to `up_to` (in the
/// order of [`NumberClass`]; premium numbers never by class), plus the
/// numbers approved one by one (in any spelling the plan reads).
/// Emergency numbers are always allowed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default = "internal")]
    pub up_to: NumberClass,
    #[serde(default)]
    pub numbers: BTreeSet<String>,
}

fn internal() -> NumberClass {
    NumberClass::Internal
}

/// Why a dial target is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{target}: {class} numbers are outside the unit's approved scope ({up_to})")]
    OutOfScope {
        target: String,
        class: NumberClass,
        up_to: NumberClass,
    },
    #[error(transparent)]
    NotANumber(#[from] NumberError),
}

impl Default for Scope {
    /// Internal calls only.
    fn default() -> Self {
        Scope::up_to(NumberClass::Internal)
    }
}

impl Scope {
    /// Every class up to `class`, no single numbers.
    pub fn up_to(class: NumberClass) -> Scope {
        Scope {
            up_to: class,
            numbers: BTreeSet::new(),
        }
    }

    /// Whether a classified target is allowed.
    pub fn allows(&self, plan: &NumberingPlan, target: &Classified) -> bool {
        if target.class == NumberClass::Emergency {
            return true;
        }
        if target.class != NumberClass::Premium && target.class <= self.up_to {
            return true;
        }
        self.numbers.iter().any(|approved| {
            plan.classify(approved)
                .is_ok_and(|a| a.canonical == target.canonical)
        })
    }

    /// The dial-time check: the target's class, or why it is refused.
    pub fn check(&self, plan: &NumberingPlan, target: &str) -> Result<Classified, Refusal> {
        let classified = plan.classify(target)?;
        if self.allows(plan, &classified) {
            Ok(classified)
        } else {
            Err(Refusal::OutOfScope {
                target: target.to_string(),
                class: classified.class,
                up_to: self.up_to,
            })
        }
    }

    /// Whether `self` allows something `other` does not: a change from
    /// `other` to `self` widens the scope.
    pub fn widens(&self, plan: &NumberingPlan, other: &Scope) -> bool {
        let wider_class = self.up_to > other.up_to;
        let new_number = self.numbers.iter().any(|n| match plan.classify(n) {
            Ok(c) => !other.allows(plan, &c),
            Err(_) => true,
        });
        wider_class || new_number
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NumberClass::*;

    #[test]
    fn a_scope_allows_its_classes_emergencies_and_its_numbers() {
        let plan = NumberingPlan::default();
        let scope = Scope {
            up_to: Local,
            numbers: ["+34 612 345 678".to_string()].into(),
        };
        assert!(scope.check(&plan, "4321").is_ok());
        assert!(scope.check(&plan, "934123456").is_ok());
        assert!(scope.check(&plan, "112").is_ok());
        assert!(
            scope.check(&plan, "612345678").is_ok(),
            "approved by number"
        );
        assert_eq!(
            scope.check(&plan, "699999999"),
            Err(Refusal::OutOfScope {
                target: "699999999".into(),
                class: Mobile,
                up_to: Local
            })
        );
        assert!(scope.check(&plan, "915123456").is_err());
        assert!(matches!(
            scope.check(&plan, "nonsense"),
            Err(Refusal::NotANumber(_))
        ));
    }

    #[test]
    fn premium_numbers_need_their_own_approval() {
        let plan = NumberingPlan::default();
        assert!(Scope::up_to(International)
            .check(&plan, "806123456")
            .is_err());
        let named = Scope {
            up_to: Internal,
            numbers: ["806123456".to_string()].into(),
        };
        assert!(named.check(&plan, "+34806123456").is_ok());
    }

    #[test]
    fn widening_is_a_wider_class_or_a_number_not_yet_allowed() {
        let plan = NumberingPlan::default();
        let local = Scope::up_to(Local);
        assert!(Scope::up_to(National).widens(&plan, &local));
        assert!(!Scope::up_to(Internal).widens(&plan, &local));
        let with_local_number = Scope {
            up_to: Local,
            numbers: ["934000000".to_string()].into(),
        };
        assert!(
            !with_local_number.widens(&plan, &local),
            "already allowed by class"
        );
        let with_mobile = Scope {
            up_to: Local,
            numbers: ["612345678".to_string()].into(),
        };
        assert!(with_mobile.widens(&plan, &local));
        assert!(!with_mobile.widens(&plan, &with_mobile));
    }
}
