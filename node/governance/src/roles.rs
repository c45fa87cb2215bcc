//! Roles and what each may do.

use serde::{Deserialize, Serialize};

/// A role on the platform. Every role but the ICT directorate's and the
/// NOC's belongs to one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the platform: every unit, and the second approval of sign-ups.
    IctDirectorate,
    /// Authorises a unit's sign-up and the changes that carry cost.
    UnitManager,
    /// Watches and steers a unit's queues; changes that carry no cost.
    Supervisor,
    /// Takes calls: their own state, tags on their own calls.
    Agent,
    /// Reads metrics, nothing else.
    NocViewer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::IctDirectorate => "ict_directorate",
            Role::UnitManager => "unit_manager",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
            Role::NocViewer => "noc_viewer",
        }
    }

    /// Whether the role belongs to a unit.
    pub fn is_unit_role(self) -> bool {
        matches!(self, Role::UnitManager | Role::Supervisor | Role::Agent)
    }
}

/// Someone acting: their user name, role, and unit (for unit roles).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user: String,
    pub role: Role,
    pub unit: Option<String>,
}

/// What an endpoint asks of whoever calls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Read a unit's configuration, versions, pending requests, audit.
    ReadUnit,
    /// Live view, agents' states, records, voicemail.
    Supervise,
    /// Propose a new version (a sign-up, a change, a rollback).
    ProposeChange,
    /// Approve or reject a request.
    Decide,
    /// Change one's own agent state, tag one's own calls.
    ActAsAgent,
    /// Create units and users; platform-wide settings.
    Administer,
    /// Metrics.
    ReadMetrics,
}

impl Actor {
    /// Whether the actor may do `permission` on `unit` (None: the platform
    /// itself, e.g. the list of units).
    pub fn may(&self, permission: Permission, unit: Option<&str>) -> bool {
        if self.role == Role::IctDirectorate {
            return permission != Permission::ActAsAgent;
        }
        if self.role == Role::NocViewer {
            return permission == Permission::ReadMetrics;
        }
        // Unit roles act on their own unit only.
        let own_unit = match (unit, self.unit.as_deref()) {
            (Some(asked), Some(mine)) => asked == mine,
            _ => false,
        };
        if !own_unit {
            return false;
        }
        match self.role {
            Role::UnitManager => matches!(
                permission,
                Permission::ReadUnit
                    | Permission::Supervise
                    | Permission::ProposeChange
                    | Permission::Decide
            ),
            Role::Supervisor => matches!(
                permission,
                Permission::ReadUnit | Permission::Supervise | Permission::ProposeChange
            ),
            Role::Agent => permission == Permission::ActAsAgent,
            Role::IctDirectorate | Role::NocViewer => unreachable!("handled above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, unit: Option<&str>) -> Actor {
        Actor {
            user: "someone".into(),
            role,
            unit: unit.map(str::to_string),
        }
    }

    #[test]
    fn unit_roles_never_reach_another_unit() {
        for role in [Role::UnitManager, Role::Supervisor, Role::Agent] {
            let a = actor(role, Some("library"));
            for permission in [
                Permission::ReadUnit,
                Permission::Supervise,
                Permission::ProposeChange,
                Permission::Decide,
                Permission::ActAsAgent,
                Permission::Administer,
                Permission::ReadMetrics,
            ] {
                assert!(
                    !a.may(permission, Some("admissions")),
                    "{role:?} {permission:?}"
                );
                assert!(
                    !a.may(permission, None),
                    "{role:?} {permission:?} platform-wide"
                );
            }
        }
    }

    #[test]
    fn each_role_does_what_it_is_for() {
        let unit = Some("library");
        assert!(actor(Role::UnitManager, unit).may(Permission::Decide, unit));
        assert!(!actor(Role::Supervisor, unit).may(Permission::Decide, unit));
        assert!(actor(Role::Supervisor, unit).may(Permission::Supervise, unit));
        assert!(!actor(Role::Agent, unit).may(Permission::ReadUnit, unit));
        assert!(actor(Role::Agent, unit).may(Permission::ActAsAgent, unit));
        assert!(actor(Role::IctDirectorate, None).may(Permission::Administer, None));
        assert!(actor(Role::IctDirectorate, None).may(Permission::Decide, unit));
        assert!(actor(Role::NocViewer, None).may(Permission::ReadMetrics, None));
        assert!(!actor(Role::NocViewer, None).may(Permission::ReadUnit, unit));
    }
}
