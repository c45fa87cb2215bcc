//! The node's settings: embedded defaults (`config.default.toml`), then an
//! optional file, then `CC__SECTION__KEY` environment variables, read with
//! the `config` crate and checked before anything starts.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

const DEFAULTS: &str = include_str!("config.default.toml");

/// Every setting; see `config.default.toml` for their meaning and defaults.
#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct Settings {
    pub node: NodeSettings,
    pub sip: SipSettings,
    pub media: MediaSettings,
    pub acd: AcdSettings,
    pub redis: RedisSettings,
    pub limits: LimitSettings,
    pub http: HttpSettings,
    pub paths: PathSettings,
    pub store: StoreSettings,
    pub api: ApiSettings,
    pub numbering: NumberingSettings,
    pub log: LogSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct NodeSettings {
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct SipSettings {
    pub listen: SocketAddr,
    pub advertise: String,
    pub t1_ms: u64,
    pub extension_gateway: String,
    pub outbound_proxy: String,
    pub retry_after_s: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct MediaSettings {
    pub ip: IpAddr,
    pub advertise: String,
    pub port_min: u16,
    pub port_max: u16,
    pub rtp_timeout_s: u64,
    pub realtime_pacer: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct AcdSettings {
    pub store: String,
    pub feature_login: String,
    pub feature_logout: String,
    pub feature_pause: String,
    pub feature_unpause: String,
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct RedisSettings {
    pub url: String,
    pub sentinels: Vec<String>,
    pub master_name: String,
    pub cluster: Vec<String>,
    pub node_ttl_ms: u64,
}

impl RedisSettings {
    /// Where the shared ACD state lives.
    pub fn target(&self) -> cc_acd_redis::Target {
        let url = |a: &String| {
            if a.starts_with("redis://") {
                a.clone()
            } else {
                format!("redis://{a}/")
            }
        };
        if !self.cluster.is_empty() {
            cc_acd_redis::Target::Cluster(self.cluster.iter().map(url).collect())
        } else if !self.sentinels.is_empty() {
            cc_acd_redis::Target::Sentinel {
                sentinels: self.sentinels.iter().map(url).collect(),
                master: self.master_name.clone(),
            }
        } else {
            cc_acd_redis::Target::Single(self.url.clone())
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct LimitSettings {
    pub max_calls: usize,
    pub max_call_s: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct HttpSettings {
    pub listen: SocketAddr,
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct PathSettings {
    pub units: PathBuf,
    pub records: PathBuf,
    pub voicemail: PathBuf,
    pub config_cache: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct NumberingSettings {
    pub plan_file: String,
}

impl NumberingSettings {
    /// The plan: the file's, or Spain's (the embedded default).
    pub fn plan(&self) -> Result<cc_numbering::NumberingPlan, String> {
        if self.plan_file.is_empty() {
            return Ok(cc_numbering::NumberingPlan::default());
        }
        let text = std::fs::read_to_string(&self.plan_file)
            .map_err(|e| format!("{}: {e}", self.plan_file))?;
        serde_norway::from_str(&text)
            .map_err(|e| format!("{}: not a numbering plan: {e}", self.plan_file))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct StoreSettings {
    pub url: String,
    pub max_connections: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct ApiSettings {
    pub listen: String,
    pub sip_server: String,
    pub sip_domain: String,
}

#[derive(Clone, Debug, Deserialize)]
#[allow(missing_docs)]
pub struct LogSettings {
    pub level: String,
}

impl Settings {
    /// Reads the defaults, `file` if given, and the environment.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Settings> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(
                config::File::from(file)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("CC")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("redis.sentinels")
                    .with_list_parse_key("redis.cluster")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.media.port_min >= 1024 && self.media.port_min < self.media.port_max,
            "media.port_min must be at least 1024 and below media.port_max"
        );
        anyhow::ensure!(
            self.sip.t1_ms >= 50 && self.sip.t1_ms <= 5000,
            "sip.t1_ms must be within 50..=5000"
        );
        anyhow::ensure!(
            self.limits.max_calls > 0,
            "limits.max_calls must be above 0"
        );
        anyhow::ensure!(
            !self.sip.listen.ip().is_unspecified() || !self.sip.advertise.is_empty(),
            "sip.listen on {} needs sip.advertise (the address peers reach the node at)",
            self.sip.listen.ip()
        );
        anyhow::ensure!(
            !self.media.ip.is_unspecified() || !self.media.advertise.is_empty(),
            "media.ip {} needs media.advertise",
            self.media.ip
        );
        anyhow::ensure!(
            self.media.rtp_timeout_s > 0,
            "media.rtp_timeout_s must be above 0"
        );
        anyhow::ensure!(
            matches!(self.acd.store.as_str(), "memory" | "redis"),
            "acd.store {:?}: must be \"memory\" or \"redis\"",
            self.acd.store
        );
        Ok(())
    }

    /// The host peers reach our SIP at.
    pub fn sip_host(&self) -> String {
        if self.sip.advertise.is_empty() {
            self.sip.listen.ip().to_string()
        } else {
            self.sip.advertise.clone()
        }
    }

    /// The address written in SDP.
    pub fn media_address(&self) -> IpAddr {
        self.media.advertise.parse().unwrap_or(self.media.ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_defaults_load_and_pass_the_checks() {
        let s = Settings::load(None).unwrap();
        assert_eq!(s.sip.listen.port(), 5060);
        assert_eq!(s.sip_host(), "127.0.0.1");
    }
}
