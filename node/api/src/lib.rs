//! The platform's REST API: units and their versions, sign-ups and
//! changes with their approvals, the audit trail, users; every endpoint
//! checks who calls and for which unit (another unit's data is answered
//! 404, as if it did not exist).
//!
//! The OpenAPI document is built from the handlers' own annotations by
//! utoipa-axum, from the same router that serves them: an endpoint cannot
//! be served without being documented, and the tenancy test walks every
//! endpoint the document lists.
//!
//! Handlers are the shell: the rules (who may approve, what carries cost)
//! are `cc_governance`'s, the numbering plan `cc_numbering`'s, the SQL
//! `cc_store`'s.

pub mod agents;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod calls;
pub mod documents;
pub mod dry_run;
pub mod error;
pub mod live;
pub mod ops;
pub mod prompts;
pub mod requests;
pub mod sessions;
pub mod units;
pub mod users;

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use cc_numbering::NumberingPlan;
use cc_store::Store;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub plan: Arc<NumberingPlan>,
    /// Verified against when the user does not exist, so that a login
    /// takes as long either way.
    pub dummy_hash: String,
    /// Where agents' phones register (`host:port`), and their SIP domain:
    /// what their MicroSIP configuration names.
    pub sip_server: String,
    pub sip_domain: String,
    /// The ACD of the node serving the API, for the live view (None: the
    /// API alone, e.g. the operators' command line).
    pub live: Option<Arc<dyn live::LiveAcd>>,
}

impl AppState {
    pub fn new(store: Store, plan: NumberingPlan) -> AppState {
        AppState {
            store,
            plan: Arc::new(plan),
            dummy_hash: auth::hash_password("no such user, no such password"),
            sip_server: "127.0.0.1:5070".into(),
            sip_domain: "cc.local".into(),
            live: None,
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Call-centre platform API", description = "Units, versions, approvals and audit of the university's call-centre platform."),
    components(schemas(error::ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's router and its OpenAPI document (also served at
/// `/api/v1/openapi.json`).
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(sessions::login))
        .routes(routes!(users::create))
        .routes(routes!(units::list, units::sign_up))
        .routes(routes!(units::get))
        .routes(routes!(units::versions, units::propose))
        .routes(routes!(units::version))
        .routes(routes!(units::validate))
        .routes(routes!(dry_run::dry_run))
        .routes(routes!(calendar::get, calendar::put))
        .routes(routes!(requests::list))
        .routes(routes!(requests::get))
        .routes(routes!(requests::approve))
        .routes(routes!(requests::reject))
        .routes(routes!(audit::trail))
        .routes(routes!(prompts::list))
        .routes(routes!(agents::list))
        .routes(routes!(live::view))
        .routes(routes!(live::set_state))
        .routes(routes!(agents::microsip_ini))
        .routes(routes!(calls::records))
        .routes(routes!(calls::tag))
        .routes(routes!(calls::voicemail))
        .routes(routes!(calls::voicemail_audio))
        .routes(routes!(prompts::upload))
        .with_state(state)
        .split_for_parts();
    let document = openapi.clone();
    let router = router.route(
        "/api/v1/openapi.json",
        get(move || async move { Json(document) }),
    );
    (router, openapi)
}
