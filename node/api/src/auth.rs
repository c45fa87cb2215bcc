//! Who is calling: passwords (argon2id), bearer tokens (random, kept as
//! their SHA-256 with an expiry), and the caller's roles.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cc_governance::{Actor, Permission, Role};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::AppState;

/// A PHC string of `password`.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the system's random source");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new token: what the client keeps, and what the database keeps.
pub fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source");
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let digest = token_digest(&token);
    (token, digest)
}

/// A SIP password: 20 characters a phone's keypad form accepts.
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

pub fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn parse_role(name: &str) -> Option<Role> {
    Some(match name {
        "ict_directorate" => Role::IctDirectorate,
        "unit_manager" => Role::UnitManager,
        "supervisor" => Role::Supervisor,
        "agent" => Role::Agent,
        "noc_viewer" => Role::NocViewer,
        _ => return None,
    })
}

/// The authenticated caller: one user with all their roles.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: i64,
    pub username: String,
    pub roles: Vec<(Role, Option<String>)>,
}

impl Caller {
    /// The caller acting on `unit` (None: on the platform) in the role
    /// that allows most there.
    pub fn actor_for(&self, unit: Option<&str>) -> Actor {
        let rank = |role: Role| match role {
            Role::IctDirectorate => 0,
            Role::UnitManager => 1,
            Role::Supervisor => 2,
            Role::Agent => 3,
            Role::NocViewer => 4,
        };
        let mut applicable: Vec<&(Role, Option<String>)> = self
            .roles
            .iter()
            .filter(|(role, role_unit)| !role.is_unit_role() || role_unit.as_deref() == unit)
            .collect();
        applicable.sort_by_key(|(role, _)| rank(*role));
        match applicable.first() {
            Some((role, role_unit)) => Actor {
                user: self.username.clone(),
                role: *role,
                unit: role_unit.clone(),
            },
            // No role there: an actor that may nothing on it.
            None => Actor {
                user: self.username.clone(),
                role: Role::Agent,
                unit: None,
            },
        }
    }

    /// Whether the caller may do `permission` on `unit` in any of its roles.
    pub fn may(&self, permission: Permission, unit: Option<&str>) -> bool {
        self.roles.iter().any(|(role, role_unit)| {
            Actor {
                user: self.username.clone(),
                role: *role,
                unit: role_unit.clone(),
            }
            .may(permission, unit)
        })
    }

    /// `Ok` if the caller may, else the error to answer. Another unit's
    /// data answers 404 as if it did not exist.
    pub fn require(&self, permission: Permission, unit: Option<&str>) -> Result<(), ApiError> {
        if self.may(permission, unit) {
            return Ok(());
        }
        match unit {
            Some(unit)
                if !self
                    .roles
                    .iter()
                    .any(|(r, u)| !r.is_unit_role() || u.as_deref() == Some(unit)) =>
            {
                Err(ApiError::not_found(format!("no unit {unit:?}")))
            }
            _ => Err(ApiError::forbidden(format!(
                "{} may not do this here",
                self.username
            ))),
        }
    }

    /// Units the caller may read (None: all).
    pub fn readable_units(&self) -> Option<Vec<String>> {
        if self.roles.iter().any(|(r, _)| *r == Role::IctDirectorate) {
            return None;
        }
        Some(
            self.roles
                .iter()
                .filter(|(r, _)| matches!(r, Role::UnitManager | Role::Supervisor))
                .filter_map(|(_, u)| u.clone())
                .collect(),
        )
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let client = state.store.client().await?;
        let (user_id, username) = cc_store::users::session_user(&**client, &token_digest(token))
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        let roles = cc_store::users::roles(&**client, user_id)
            .await?
            .into_iter()
            .filter_map(|(role, unit)| Some((parse_role(&role)?, unit)))
            .collect();
        Ok(Caller {
            user_id,
            username,
            roles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let hash = hash_password("correct horse");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_kept_as_digests() {
        let (a, digest) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_digest(&a), digest);
    }
}
