//! Agents and their SIP accounts (what Kamailio authenticates against,
//! through the `subscriber` view).

use tokio_postgres::GenericClient;

use crate::StoreError;

/// An agent as a unit's live version names them.
pub struct AgentSpec<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// `microsip` or `desk_phone`.
    pub endpoint: &'a str,
    pub uri: &'a str,
    /// For a MicroSIP account: the SIP user name, and the password to give
    /// it if it has none yet (a live account keeps its password).
    pub account: Option<(&'a str, &'a str)>,
}

/// An agent as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AgentRow {
    pub id: String,
    pub name: String,
    pub endpoint: String,
    pub uri: String,
    pub sip_username: Option<String>,
    #[serde(skip)]
    pub sip_password: Option<String>,
}

/// Makes the unit's agents those of `agents`: new ones added, changed
/// ones updated, the others removed (their accounts with them).
pub async fn sync(
    client: &impl GenericClient,
    unit: &str,
    agents: &[AgentSpec<'_>],
) -> Result<(), StoreError> {
    let ids: Vec<&str> = agents.iter().map(|a| a.id).collect();
    client
        .execute(
            "DELETE FROM agents WHERE unit = $1 AND NOT (id = ANY($2))",
            &[&unit, &ids],
        )
        .await?;
    for agent in agents {
        let (username, password) = match agent.account {
            Some((u, p)) => (Some(u), Some(p)),
            None => (None, None),
        };
        client
            .execute(
                "INSERT INTO agents (unit, id, name, endpoint, uri, sip_username, sip_password)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (unit, id) DO UPDATE SET name = excluded.name, endpoint = excluded.endpoint,
                     uri = excluded.uri, sip_username = excluded.sip_username,
                     sip_password = CASE WHEN excluded.sip_username IS NULL THEN NULL
                                         ELSE coalesce(agents.sip_password, excluded.sip_password) END",
                &[&unit, &agent.id, &agent.name, &agent.endpoint, &agent.uri, &username, &password],
            )
            .await?;
    }
    Ok(())
}

pub async fn list(client: &impl GenericClient, unit: &str) -> Result<Vec<AgentRow>, StoreError> {
    Ok(client
        .query(
            "SELECT id, name, endpoint, uri, sip_username, sip_password FROM agents WHERE unit = $1 ORDER BY id",
            &[&unit],
        )
        .await?
        .iter()
        .map(|r| AgentRow {
            id: r.get(0),
            name: r.get(1),
            endpoint: r.get(2),
            uri: r.get(3),
            sip_username: r.get(4),
            sip_password: r.get(5),
        })
        .collect())
}
