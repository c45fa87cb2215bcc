//! Errors as the API answers them: a status and a clear message (and the
//! validation errors, where there are some), never a panic or a bare 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// Each problem found, for a document that does not validate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is needed (POST /api/v1/sessions)",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }
    /// Also what another unit's data looks like: it is not there.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, what)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
                details: self.details,
            }),
        )
            .into_response()
    }
}

impl From<cc_store::StoreError> for ApiError {
    /// What PostgreSQL refuses for the data itself is the request's fault
    /// (a 4xx naming the reason): a value it cannot hold (class 22, e.g. a
    /// NUL character in a text) or one that breaks a rule of the schema
    /// (class 23). Anything else is the database being away: 503.
    fn from(e: cc_store::StoreError) -> Self {
        if let cc_store::StoreError::Postgres(error) = &e {
            if let Some(db) = error.as_db_error() {
                let class = &db.code().code()[..2];
                if class == "22" {
                    return ApiError::bad_request(format!(
                        "a value is not acceptable: {}",
                        db.message()
                    ));
                }
                if class == "23" {
                    return ApiError::conflict(format!(
                        "this conflicts with the data kept: {}",
                        db.detail().unwrap_or(db.message())
                    ));
                }
            }
        }
        tracing::warn!("store: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the configuration database is unavailable; try again",
        )
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        cc_store::StoreError::from(e).into()
    }
}

impl From<cc_governance::RuleError> for ApiError {
    fn from(e: cc_governance::RuleError) -> Self {
        use cc_governance::RuleError::*;
        let status = match e {
            Closed(_) | AlreadyApproved(_) => StatusCode::CONFLICT,
            ReasonRequired => StatusCode::BAD_REQUEST,
            NotAllowed { .. } | OwnRequest(_) | MayNotPropose { .. } => StatusCode::FORBIDDEN,
        };
        ApiError::new(status, e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose rejection (not JSON, a missing or unknown field)
/// answers in the API's error format, with the reason.
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}
