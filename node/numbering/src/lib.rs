//! The numbering plan: which class of number a dial target is, and whether
//! a unit's approved scope allows it.
//!
//! Everything that can cost money when a node dials (a forward to a mobile,
//! to another province, abroad, to a premium line) is decided here, in
//! plain data and pure functions: the governance rules use it to tell a
//! change that carries cost from one that does not, and the nodes use it at
//! dial time to refuse what the unit is not approved for.
//!
//! The plan is data ([`NumberingPlan`]): the embedded default is Spain's
//! (E.164 +34, nine-digit national numbers) plus the university's internal
//! extensions; a deployment may load another from a file.

mod plan;
mod scope;

pub use plan::{Classified, InternalRule, NationalRule, NumberError, NumberingPlan, ShortNumber};
pub use scope::{Refusal, Scope};

use serde::{Deserialize, Serialize};

/// What a number costs to call, from free to dearest. The order is the
/// order of scopes: a unit approved up to `national` may dial `local` and
/// `internal` numbers too, never `premium` unless it is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberClass {
    /// Emergency services (112, 061, …): free, and always allowed.
    Emergency,
    /// An extension of the university's own telephony platform.
    Internal,
    /// A fixed line in the university's own area.
    Local,
    /// A fixed line elsewhere in the country, freephone and corporate
    /// numbers.
    National,
    /// A mobile line of the country.
    Mobile,
    /// Any number abroad.
    International,
    /// Premium-rate, shared-cost, personal and directory numbers.
    Premium,
}

impl NumberClass {
    pub const ALL: [NumberClass; 7] = [
        NumberClass::Emergency,
        NumberClass::Internal,
        NumberClass::Local,
        NumberClass::National,
        NumberClass::Mobile,
        NumberClass::International,
        NumberClass::Premium,
    ];

    /// The class's name as written in documents and metrics.
    pub fn name(self) -> &'static str {
        match self {
            NumberClass::Emergency => "emergency",
            NumberClass::Internal => "internal",
            NumberClass::Local => "local",
            NumberClass::National => "national",
            NumberClass::Mobile => "mobile",
            NumberClass::International => "international",
            NumberClass::Premium => "premium",
        }
    }

    /// Whether dialling it can cost the unit money.
    pub fn carries_cost(self) -> bool {
        !matches!(self, NumberClass::Emergency | NumberClass::Internal)
    }
}

impl std::fmt::Display for NumberClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
