//! Reading a unit's document from a request: the same loader and the same
//! errors as the node's (`cc_flow::load_unit`).

use cc_flow::{UnitDocument, UniversityCalendar};
use serde_json::Value;

use crate::error::ApiError;

/// The parsed, validated document and its JSON form (what is stored and
/// diffed), or a 400 listing every problem.
pub fn parse(yaml: &str, file: &str) -> Result<(UnitDocument, Value), ApiError> {
    if yaml.len() > 1_000_000 {
        return Err(ApiError::bad_request("the document is over 1 MB"));
    }
    let unit =
        cc_flow::load_unit(file, yaml, &UniversityCalendar::default()).map_err(|errors| {
            ApiError {
                status: axum::http::StatusCode::BAD_REQUEST,
                message: format!(
                    "the document does not validate ({} problem(s))",
                    errors.0.len()
                ),
                details: errors.0.iter().map(|e| e.to_string()).collect(),
            }
        })?;
    let json = serde_json::to_value(&unit.document)
        .map_err(|e| ApiError::bad_request(format!("the document cannot be stored: {e}")))?;
    Ok((unit.document, json))
}

/// A stored document back into its model.
pub fn from_json(value: &Value) -> Result<UnitDocument, ApiError> {
    serde_json::from_value(value.clone()).map_err(|e| {
        tracing::error!("a stored document no longer reads: {e}");
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "a stored version no longer reads; see the log",
        )
    })
}
