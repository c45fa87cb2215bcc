//! A unit's agents, and the configuration their endpoint needs: an
//! importable `microsip.ini` for a MicroSIP account, the line's details
//! for a desk phone.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use cc_governance::Permission;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    /// `microsip` (an account on this platform) or `desk_phone` (a line of
    /// the university's telephony platform, reached through its gateway).
    pub endpoint: String,
    /// The address the nodes offer calls to.
    pub uri: String,
    /// The SIP account's user name (MicroSIP); the password is only in
    /// the agent's `microsip.ini`.
    pub sip_username: Option<String>,
}

/// The unit's agents (as its live version names them).
#[utoipa::path(get, path = "/api/v1/units/{unit}/agents", tag = "agents", params(("unit" = String, Path)),
    responses((status = 200, body = [AgentView]), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(unit): Path<String>,
) -> ApiResult<Json<Vec<AgentView>>> {
    caller.require(Permission::ReadUnit, Some(&unit))?;
    let client = state.store.client().await?;
    let rows = cc_store::agents::list(&**client, &unit).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AgentView {
                id: r.id,
                name: r.name,
                endpoint: r.endpoint,
                uri: r.uri,
                sip_username: r.sip_username,
            })
            .collect(),
    ))
}

/// MicroSIP's configuration for the agent, to import (File > Import, or
/// replace `microsip.ini`): the account at the platform's registrar, G.711
/// (PCMA, PCMU), DTMF as RFC 2833 telephone-events.
#[utoipa::path(get, path = "/api/v1/units/{unit}/agents/{agent}/microsip.ini", tag = "agents",
    params(("unit" = String, Path), ("agent" = String, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn microsip_ini(
    State(state): State<AppState>,
    caller: Caller,
    Path((unit, agent)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::ReadUnit, Some(&unit))?;
    let client = state.store.client().await?;
    let row = cc_store::agents::list(&**client, &unit)
        .await?
        .into_iter()
        .find(|a| a.id == agent)
        .ok_or_else(|| ApiError::not_found(format!("no agent {agent:?} in unit {unit:?}")))?;
    let (Some(username), Some(password)) = (row.sip_username, row.sip_password) else {
        return Err(ApiError::conflict(format!(
            "{agent} answers on a desk phone ({}): it keeps its line's own configuration",
            row.uri
        )));
    };
    let ini = microsip(
        &row.name,
        &unit,
        &username,
        &password,
        &state.sip_server,
        &state.sip_domain,
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], ini))
}

/// The file itself.
pub fn microsip(
    name: &str,
    unit: &str,
    username: &str,
    password: &str,
    server: &str,
    domain: &str,
) -> String {
    format!(
        "; MicroSIP configuration for {name} ({unit}), from the call-centre platform.\r\n\
         ; Import it in MicroSIP, or put it beside microsip.exe as microsip.ini.\r\n\
         [Settings]\r\n\
         audioCodecs=PCMA/8000/1 PCMU/8000/1\r\n\
         ; DTMF as RFC 2833 telephone-events (what the call centre reads)\r\n\
         DTMFMethod=2\r\n\
         autoAnswer=0\r\n\
         singleMode=1\r\n\
         [Account1]\r\n\
         label={name}\r\n\
         server={domain}\r\n\
         proxy={server}\r\n\
         domain={domain}\r\n\
         username={username}\r\n\
         password={password}\r\n\
         authID={username}\r\n\
         displayName={name}\r\n\
         transport=udp\r\n\
         registerRefresh=300\r\n\
         keepAlive=15\r\n\
         publish=0\r\n\
         ICE=0\r\n\
         allowRewrite=0\r\n\
         disableSessionTimer=0\r\n"
    )
}
