//! The API against a real PostgreSQL (127.0.0.1:5432 as `postgres`, or
//! CC_TEST_PGHOST/PGPORT/PGUSER), a database of its own per test: the
//! sign-up walk, a change that carries cost, tenancy over every endpoint
//! the OpenAPI document lists, and bad requests.

use std::sync::atomic::{AtomicU32, Ordering};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use cc_api::AppState;
use cc_numbering::NumberingPlan;
use cc_store::Store;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio_postgres::NoTls;
use tower::ServiceExt;

fn server() -> String {
    let host = std::env::var("CC_TEST_PGHOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("CC_TEST_PGPORT").unwrap_or_else(|_| "5432".into());
    let user = std::env::var("CC_TEST_PGUSER").unwrap_or_else(|_| "postgres".into());
    format!("postgres://{user}@{host}:{port}")
}

async fn admin_client() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&format!("{}/postgres", server()), NoTls)
        .await
        .expect("PostgreSQL at 127.0.0.1:5432");
    tokio::spawn(connection);
    client
}

/// The API on a fresh database, with one ICT directorate user `irene`.
struct Api {
    router: Router,
    openapi: utoipa::openapi::OpenApi,
    store: Store,
    database: String,
}

impl Api {
    async fn start() -> Api {
        static N: AtomicU32 = AtomicU32::new(0);
        let database = format!(
            "cc_api_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let admin = admin_client().await;
        admin
            .execute(
                &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
                &[],
            )
            .await
            .unwrap();
        admin
            .execute(&format!("CREATE DATABASE {database}"), &[])
            .await
            .unwrap();
        let store = Store::new(&format!("{}/{database}", server()), 4).unwrap();
        store.migrate().await.unwrap();
        let client = store.client().await.unwrap();
        let id = cc_store::users::create(
            &**client,
            "irene",
            "Irene",
            &cc_api::auth::hash_password("irene-password"),
        )
        .await
        .unwrap();
        cc_store::users::grant(&**client, id, "ict_directorate", None)
            .await
            .unwrap();
        let (router, openapi) =
            cc_api::router(AppState::new(store.clone(), NumberingPlan::default()));
        Api {
            router,
            openapi,
            store,
            database,
        }
    }

    async fn finish(self) {
        drop(self.store);
        let admin = admin_client().await;
        admin
            .execute(
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
                &[],
            )
            .await
            .unwrap();
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/sessions",
                None,
                Some(json!({ "username": username, "password": password })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// Creates `username` (password `<username>-password`) with one role.
    async fn user(&self, ict: &str, username: &str, role: &str, unit: Option<&str>) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/users",
                Some(ict),
                Some(
                    json!({ "username": username, "password": format!("{username}-password"),
                             "roles": [{ "role": role, "unit": unit }] }),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.login(username, &format!("{username}-password")).await
    }

    async fn count(&self, table: &str, unit: &str) -> i64 {
        let client = self.store.client().await.unwrap();
        client
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE unit = $1"),
                &[&unit],
            )
            .await
            .unwrap()
            .get(0)
    }
}

fn unit_yaml(unit: &str, number: &str, extra: &str) -> String {
    let (start, steps) = if extra.is_empty() {
        ("bye", String::new())
    } else {
        ("out", extra.to_string())
    };
    format!(
        "unit: {unit}\nname: The {unit}\nservice_numbers: [\"{number}\"]\ntimezone: Europe/Madrid\n\
         agents:\n  - {{ id: a1, name: A1, uri: \"sip:{unit}-a1@cc.local\", endpoint: microsip }}\n\
         outbound: {{ scope: local }}\n\
         flow:\n  start: {start}\n  steps:\n    bye:\n      hangup: {{}}\n{steps}"
    )
}

fn forward_to(target: &str) -> String {
    format!("    out:\n      forward: {{ target: \"{target}\", on_failure: bye }}\n")
}

/// Signs `unit` up and approves it (manager `<unit>-maria`, then ICT).
/// Returns the manager's token.
async fn live_unit(api: &Api, ict: &str, unit: &str, number: &str) -> String {
    let (status, request) = api
        .call(
            Method::POST,
            "/api/v1/units",
            Some(ict),
            Some(json!({ "yaml": unit_yaml(unit, number, ""), "reason": "ticket 1" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    let id = request["id"].as_i64().unwrap();
    let maria = api
        .user(ict, &format!("{unit}-maria"), "unit_manager", Some(unit))
        .await;
    for token in [&maria, ict] {
        let (status, body) = api
            .call(
                Method::POST,
                &format!("/api/v1/units/{unit}/requests/{id}/approve"),
                Some(token),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    maria
}

#[tokio::test]
async fn a_unit_goes_live_only_with_its_manager_and_the_ict_directorate() {
    let api = Api::start().await;
    let ict = api.login("irene", "irene-password").await;
    let (status, request) = api
        .call(
            Method::POST,
            "/api/v1/units",
            Some(&ict),
            Some(json!({ "yaml": unit_yaml("library", "4100", ""), "reason": "help-desk ticket 4711" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(request["state"]["state"], "pending", "{request}");
    let id = request["id"].as_i64().unwrap();
    let maria = api
        .user(&ict, "maria", "unit_manager", Some("library"))
        .await;
    let sam = api.user(&ict, "sam", "supervisor", Some("library")).await;

    let (_, unit) = api
        .call(Method::GET, "/api/v1/units/library", Some(&maria), None)
        .await;
    assert_eq!(unit["state"], "requested");
    assert_eq!(unit["live_version"], Value::Null);

    // A supervisor cannot approve; the manager can, and it still waits
    // for the ICT directorate.
    let approve = format!("/api/v1/units/library/requests/{id}/approve");
    let (status, _) = api
        .call(Method::POST, &approve, Some(&sam), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = api
        .call(
            Method::POST,
            &approve,
            Some(&maria),
            Some(json!({ "reason": "budget ok" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"]["state"], "pending");
    let (_, unit) = api
        .call(Method::GET, "/api/v1/units/library", Some(&maria), None)
        .await;
    assert_eq!(unit["state"], "requested", "not live with one approval");
    let (status, _) = api
        .call(Method::POST, &approve, Some(&maria), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "one person counts once");

    let (status, body) = api
        .call(Method::POST, &approve, Some(&ict), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"]["state"], "applied");
    let (_, unit) = api
        .call(Method::GET, "/api/v1/units/library", Some(&sam), None)
        .await;
    assert_eq!(unit["state"], "live");
    assert_eq!(unit["live_version"], 1);
    assert_eq!(unit["service_numbers"], json!(["4100"]));

    let (_, trail) = api
        .call(
            Method::GET,
            "/api/v1/units/library/audit",
            Some(&maria),
            None,
        )
        .await;
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["sign_up_requested", "approved_pending", "approved_applied"]
    );
    assert_eq!(trail[0]["reason"], "help-desk ticket 4711");
    assert_eq!(trail[1]["username"], "maria");
    api.finish().await;
}

#[tokio::test]
async fn a_change_that_carries_cost_waits_for_another_manager() {
    let api = Api::start().await;
    let ict = api.login("irene", "irene-password").await;
    let maria = live_unit(&api, &ict, "library", "4100").await;
    let marc = api
        .user(&ict, "marc", "unit_manager", Some("library"))
        .await;
    let sam = api.user(&ict, "sam", "supervisor", Some("library")).await;
    let versions = "/api/v1/units/library/versions";

    // A change without cost applies at once.
    let renamed =
        unit_yaml("library", "4100", "").replace("name: The library", "name: Library desk");
    let (status, body) = api
        .call(
            Method::POST,
            versions,
            Some(&sam),
            Some(json!({ "yaml": renamed })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"]["state"], "applied");
    let (_, unit) = api
        .call(Method::GET, "/api/v1/units/library", Some(&sam), None)
        .await;
    assert_eq!(unit["live_version"], 2);

    // A forward to a mobile waits.
    let to_mobile = unit_yaml("library", "4100", &forward_to("+34612345678"));
    let (status, body) = api
        .call(
            Method::POST,
            versions,
            Some(&maria),
            Some(json!({ "yaml": to_mobile, "reason": "out of hours" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"]["state"], "pending");
    assert_eq!(body["costs"][0]["kind"], "forward");
    assert_eq!(body["costs"][0]["class"], "mobile");
    let id = body["id"].as_i64().unwrap();
    let (_, unit) = api
        .call(Method::GET, "/api/v1/units/library", Some(&sam), None)
        .await;
    assert_eq!(unit["live_version"], 2, "still the old version");

    let approve = format!("/api/v1/units/library/requests/{id}/approve");
    for (token, expected) in [
        (&maria, StatusCode::FORBIDDEN),
        (&sam, StatusCode::FORBIDDEN),
    ] {
        let (status, body) = api
            .call(Method::POST, &approve, Some(token), Some(json!({})))
            .await;
        assert_eq!(status, expected, "{body}");
    }
    let (status, body) = api
        .call(
            Method::POST,
            &approve,
            Some(&marc),
            Some(json!({ "reason": "approved" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"]["state"], "applied");
    let (_, unit) = api
        .call(Method::GET, "/api/v1/units/library", Some(&sam), None)
        .await;
    assert_eq!(unit["live_version"], 3);

    // Approved once, the same number costs nothing more.
    let again =
        unit_yaml("library", "4100", &forward_to("612345678")).replace("The library", "Library");
    let (_, body) = api
        .call(
            Method::POST,
            versions,
            Some(&sam),
            Some(json!({ "yaml": again })),
        )
        .await;
    assert_eq!(body["state"]["state"], "applied", "{body}");

    // A rollback is a change like any other.
    let (status, body) = api
        .call(
            Method::POST,
            versions,
            Some(&sam),
            Some(json!({ "rollback_to": 1 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["kind"], "rollback");
    let (_, trail) = api
        .call(
            Method::GET,
            "/api/v1/units/library/audit",
            Some(&maria),
            None,
        )
        .await;
    let last = trail.as_array().unwrap().last().unwrap();
    assert_eq!(last["action"], "rollback_applied");
    assert!(!last["diff"].as_array().unwrap().is_empty(), "{last}");

    // A rejection needs a reason and changes nothing.
    let costly = unit_yaml("library", "4100", "").replace("scope: local", "scope: international");
    let (_, body) = api
        .call(
            Method::POST,
            versions,
            Some(&sam),
            Some(json!({ "yaml": costly })),
        )
        .await;
    let id = body["id"].as_i64().unwrap();
    let reject = format!("/api/v1/units/library/requests/{id}/reject");
    let (status, _) = api
        .call(
            Method::POST,
            &reject,
            Some(&maria),
            Some(json!({ "reason": "" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = api
        .call(
            Method::POST,
            &reject,
            Some(&maria),
            Some(json!({ "reason": "no budget" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"]["state"], "rejected");
    let (_, unit) = api
        .call(Method::GET, "/api/v1/units/library", Some(&sam), None)
        .await;
    assert_eq!(unit["live_version"], 5);
    api.finish().await;
}

#[tokio::test]
async fn no_role_of_one_unit_reads_or_changes_another_units_data_on_any_endpoint() {
    let api = Api::start().await;
    let ict = api.login("irene", "irene-password").await;
    let library_manager = live_unit(&api, &ict, "library", "4100").await;
    live_unit(&api, &ict, "admissions", "4200").await;
    let library_supervisor = api
        .user(&ict, "lib-sam", "supervisor", Some("library"))
        .await;
    let library_agent = api.user(&ict, "lib-ada", "agent", Some("library")).await;
    let noc = api.user(&ict, "nico", "noc_viewer", None).await;
    // Something of admissions' for every kind of id: a pending request.
    let costly = unit_yaml("admissions", "4200", "").replace("scope: local", "scope: national");
    let admissions_manager = api
        .login("admissions-maria", "admissions-maria-password")
        .await;
    let (_, pending) = api
        .call(
            Method::POST,
            "/api/v1/units/admissions/versions",
            Some(&admissions_manager),
            Some(json!({ "yaml": costly })),
        )
        .await;
    let request_id = pending["id"].as_i64().unwrap();

    // And a call of admissions', with its record.
    {
        let client = api.store.client().await.unwrap();
        let record = json!({ "call_id": "c-admissions", "unit": "admissions", "node": "n1", "agent": "a1",
                             "caller": "sip:secret-caller@example.com", "number": "4200",
                             "started_at": "2026-12-07T09:00:00Z", "outcome": "answered", "tags": [] });
        assert!(cc_store::calls::add_record(&**client, &record)
            .await
            .unwrap());
    }
    let tables = [
        "unit_versions",
        "requests",
        "audit_log",
        "service_numbers",
        "call_records",
        "call_tags",
        "prompts",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(api.count(table, "admissions").await);
    }
    // Every endpoint of the document, every method, every role of the
    // other unit (and the NOC), with bodies that would be valid.
    let mut checked = 0;
    let paths = api.openapi.paths.paths.clone();
    for (path, item) in &paths {
        let methods = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::DELETE, item.delete.is_some()),
            (Method::PATCH, item.patch.is_some()),
        ];
        for (method, present) in methods {
            if !present {
                continue;
            }
            let uri = path
                .replace("{unit}", "admissions")
                .replace("{id}", &request_id.to_string())
                .replace("{version}", "1")
                .replace("{call_id}", "c-admissions")
                .replace("{agent}", "a1")
                .replace("{name}", "welcome");
            // A body each endpoint would accept from someone allowed.
            let body = if path.ends_with("/users") {
                json!({ "username": "someone", "password": "some-long-password",
                        "roles": [{ "role": "unit_manager", "unit": "admissions" }] })
            } else if path.ends_with("/sessions") {
                json!({ "username": "someone", "password": "some-long-password" })
            } else if path.ends_with("/approve") || path.ends_with("/reject") {
                json!({ "reason": "x" })
            } else if path.ends_with("/dry-run") {
                json!({ "number": "4200" })
            } else if path.ends_with("/tags") {
                json!({ "tag": "complaint" })
            } else if path.ends_with("/state") {
                json!({ "action": "login" })
            } else {
                json!({ "yaml": unit_yaml("admissions", "4200", ""), "reason": "x" })
            };
            for token in [&library_manager, &library_supervisor, &library_agent, &noc] {
                let body = if method == Method::GET {
                    None
                } else {
                    Some(body.clone())
                };
                let (status, answer) = api.call(method.clone(), &uri, Some(token), body).await;
                let unit_scoped = path.contains("{unit}");
                // Logging in, validating, the caller's own list of units,
                // and the university-wide calendar (no unit's data).
                let allowed_anyway = !unit_scoped
                    && (path.ends_with("/sessions")
                        || path.ends_with("/validate")
                        || (path.ends_with("/units") && method == Method::GET)
                        || (path.ends_with("/calendar") && method == Method::GET));
                if allowed_anyway {
                    // Logging in, validating, and the caller's own list.
                    if path.ends_with("/units") {
                        assert!(
                            !answer.to_string().contains("admissions"),
                            "{method} {uri}: {answer}"
                        );
                    }
                    continue;
                }
                assert!(
                    status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
                    "{method} {uri} answered {status}: {answer}"
                );
                assert!(
                    !answer.to_string().contains("4200"),
                    "{method} {uri} leaks: {answer}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 40, "only {checked} calls checked");
    for (table, count) in tables.iter().zip(before) {
        assert_eq!(
            api.count(table, "admissions").await,
            count,
            "{table} of admissions changed"
        );
    }
    api.finish().await;
}

#[tokio::test]
async fn bad_requests_get_a_clear_4xx_and_change_nothing() {
    let api = Api::start().await;
    let ict = api.login("irene", "irene-password").await;
    let maria = live_unit(&api, &ict, "library", "4100").await;
    let versions_before = api.count("unit_versions", "library").await;

    // Not logged in, a wrong password, an unknown user.
    let (status, _) = api.call(Method::GET, "/api/v1/units", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .call(Method::GET, "/api/v1/units", Some("not-a-token"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for (user, password) in [("maria", "wrong"), ("nobody", "whatever")] {
        let (status, body) = api
            .call(
                Method::POST,
                "/api/v1/sessions",
                None,
                Some(json!({ "username": user, "password": password })),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // A document that does not validate: every problem, in the loader's words.
    let broken = unit_yaml("library", "4100", "").replace("start: bye", "start: nowhere");
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/units/library/versions",
            Some(&maria),
            Some(json!({ "yaml": broken })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["details"][0].as_str().unwrap().contains("nowhere"),
        "{body}"
    );
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/validate",
            Some(&maria),
            Some(json!({ "yaml": "unit: [" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Another unit's document, another unit's number, unknown fields,
    // both or neither of yaml and rollback_to, no such version or unit.
    let other = unit_yaml("admissions", "4100", "");
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/units/library/versions",
            Some(&maria),
            Some(json!({ "yaml": other })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/units",
            Some(&ict),
            Some(json!({ "yaml": unit_yaml("admissions", "4100", "") })),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "4100 is the library's");
    for body in [
        json!({ "yaml": unit_yaml("library", "4100", ""), "colour": "red" }),
        json!({ "yaml": unit_yaml("library", "4100", ""), "rollback_to": 1 }),
        json!({}),
        json!({ "rollback_to": 99 }),
        json!("not an object"),
    ] {
        let (status, answer) = api
            .call(
                Method::POST,
                "/api/v1/units/library/versions",
                Some(&maria),
                Some(body.clone()),
            )
            .await;
        assert!(
            status.is_client_error(),
            "{body} answered {status}: {answer}"
        );
    }
    let (status, _) = api
        .call(
            Method::GET,
            "/api/v1/units/library/versions/99",
            Some(&maria),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .call(Method::GET, "/api/v1/units/nowhere", Some(&ict), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&ict),
            Some(json!({ "username": "x", "password": "short", "roles": [] })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&ict),
            Some(
                json!({ "username": "xavier", "password": "long-enough-password",
            "roles": [{ "role": "unit_manager" }] }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a unit role needs a unit");
    assert_eq!(api.count("unit_versions", "library").await, versions_before);
    // The university-wide calendar: the ICT directorate's, read by all.
    let closures = json!({ "yaml": "closures:\n  - { date: 2026-12-25, name: Christmas }\n", "reason": "the calendar" });
    let (status, _) = api
        .call(
            Method::PUT,
            "/api/v1/calendar",
            Some(&maria),
            Some(closures.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api
        .call(
            Method::PUT,
            "/api/v1/calendar",
            Some(&ict),
            Some(json!({ "yaml": "closures: [{ date: yesterday }]" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, calendar) = api
        .call(Method::PUT, "/api/v1/calendar", Some(&ict), Some(closures))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{calendar}");
    let (_, calendar) = api
        .call(Method::GET, "/api/v1/calendar", Some(&maria), None)
        .await;
    assert_eq!(calendar["version"], 1);
    assert_eq!(calendar["calendar"]["closures"][0]["name"], "Christmas");
    // The dry run: the live flow walked; another unit's number is unknown.
    let (status, walk) = api
        .call(
            Method::POST,
            "/api/v1/dry-run",
            Some(&maria),
            Some(json!({ "number": "4100", "at": "2026-12-07T10:00:00Z" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{walk}");
    assert_eq!(walk["path"], json!(["bye"]));
    assert_eq!(walk["reaches"], "hangup");
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/dry-run",
            Some(&maria),
            Some(json!({ "number": "9999" })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/dry-run",
            Some(&maria),
            Some(json!({ "number": "4100", "digits": "1a" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The document is served.
    let (status, document) = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["paths"]["/api/v1/units/{unit}/requests/{id}/approve"].is_object());
    api.finish().await;
}

#[tokio::test]
async fn agents_tag_their_own_calls_and_supervisors_any_with_the_units_tags() {
    let api = Api::start().await;
    let ict = api.login("irene", "irene-password").await;
    let maria = live_unit(&api, &ict, "library", "4100").await;
    let with_tags = unit_yaml("library", "4100", "").replace(
        "flow:",
        "tags:\n  - { code: \"1\", name: complaint }\n  - { code: \"2\", name: praise }\nflow:",
    );
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/units/library/versions",
            Some(&maria),
            Some(json!({ "yaml": with_tags })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"]["state"], "applied");
    {
        let client = api.store.client().await.unwrap();
        for (call, agent) in [("c1", "ada"), ("c2", "bob")] {
            let record = json!({ "call_id": call, "unit": "library", "node": "n1", "agent": agent,
                                 "started_at": "2026-12-07T09:00:00Z", "outcome": "answered", "tags": [] });
            assert!(cc_store::calls::add_record(&**client, &record)
                .await
                .unwrap());
        }
    }
    let ada = api.user(&ict, "ada", "agent", Some("library")).await;
    let sam = api.user(&ict, "sam", "supervisor", Some("library")).await;
    let tag = |call: &str| format!("/api/v1/units/library/records/{call}/tags");

    let (status, body) = api
        .call(
            Method::POST,
            &tag("c1"),
            Some(&ada),
            Some(json!({ "tag": "complaint" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tags"], json!(["complaint"]));
    let (status, _) = api
        .call(
            Method::POST,
            &tag("c2"),
            Some(&ada),
            Some(json!({ "tag": "praise" })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not ada's call");
    let (status, body) = api
        .call(
            Method::POST,
            &tag("c1"),
            Some(&ada),
            Some(json!({ "tag": "gossip" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("complaint, praise"),
        "{body}"
    );
    for _ in 0..2 {
        let (status, body) = api
            .call(
                Method::POST,
                &tag("c2"),
                Some(&sam),
                Some(json!({ "tag": "praise" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["tags"], json!(["praise"]), "once");
    }
    let (_, records) = api
        .call(
            Method::GET,
            "/api/v1/units/library/records",
            Some(&sam),
            None,
        )
        .await;
    let c1 = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["call_id"] == "c1")
        .unwrap();
    assert_eq!(c1["tags"], json!(["complaint"]), "{records}");
    api.finish().await;
}
