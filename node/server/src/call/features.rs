//! Agents' feature codes: an agent dials `*41` to log in, `*42` to log out,
//! `*43` to pause and `*44` to come back (the codes are settings). The node
//! knows the agent by the caller's SIP URI (user and host, as their unit
//! lists it), changes their state in the ACD of every unit they serve, and
//! answers with a confirmation tone: two rising beeps when it worked, one
//! low tone when it did not (an unknown phone, the ACD out of reach).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cc_flow::{load_unit, FlowRun, UniversityCalendar};
use cc_media::prompt::{tone, tone_samples, Prompt};

use super::Call;
use crate::acd::AgentAction;
use crate::settings::AcdSettings;
use crate::units::{Directory, UnitRuntime};

/// What a feature code does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    Login,
    Logout,
    Pause,
    Unpause,
}

/// A recognised feature-code call.
pub struct FeatureCall {
    feature: Feature,
    /// (unit, agent) pairs the caller is.
    agents: Vec<(String, String)>,
    /// The unit the call's record goes to.
    pub unit: String,
    /// The flow that confirms (replaced by the error flow if it fails).
    pub confirm: Arc<UnitRuntime>,
    error: Arc<UnitRuntime>,
}

/// The node's feature codes and their confirmation flows.
pub struct FeatureCodes {
    codes: Vec<(String, Feature)>,
    ok: Arc<UnitRuntime>,
    error: Arc<UnitRuntime>,
}

fn confirmation(name: &str, prompt: Prompt) -> Arc<UnitRuntime> {
    let yaml = format!(
        "unit: {name}\nname: Agent feature code\nservice_numbers: [\"0\"]\ntimezone: UTC\n\
         prompts:\n  tone: tone.wav\n\
         flow:\n  start: confirm\n  steps:\n    confirm:\n      play: {{ prompts: [tone], next: bye }}\n    bye:\n      hangup: {{}}\n"
    );
    let unit = load_unit(name, &yaml, &UniversityCalendar::default())
        .expect("the built-in confirmation flow is valid");
    Arc::new(UnitRuntime {
        outbound: crate::units::outbound_of(&unit.document),
        unit: Arc::new(unit),
        prompts: HashMap::from([("tone".to_string(), prompt)]),
    })
}

fn beeps() -> Prompt {
    let mut samples = tone_samples(660.0, Duration::from_millis(150), 8000);
    samples.extend([0i16; 400]);
    samples.extend(tone_samples(990.0, Duration::from_millis(250), 8000));
    Prompt::from_samples("ok", &samples)
}

/// `sip:user@host:port;params` → `user@host`, lower-cased.
fn identity(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let rest = rest.split([';', '?', '>']).next()?;
    let (user, host) = rest.split_once('@')?;
    let host = if host.starts_with('[') {
        host.split_once(']')
            .map(|(h, _)| format!("{h}]"))
            .unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default().to_string()
    };
    Some(format!("{user}@{host}").to_ascii_lowercase())
}

impl FeatureCodes {
    pub fn new(settings: &AcdSettings) -> FeatureCodes {
        FeatureCodes {
            codes: vec![
                (settings.feature_login.clone(), Feature::Login),
                (settings.feature_logout.clone(), Feature::Logout),
                (settings.feature_pause.clone(), Feature::Pause),
                (settings.feature_unpause.clone(), Feature::Unpause),
            ],
            ok: confirmation("feature-ok", beeps()),
            error: confirmation(
                "feature-error",
                tone("error", 300.0, Duration::from_millis(700), 8000),
            ),
        }
    }

    /// Whether `number` is a feature code; if so, who dials it.
    pub fn recognise(
        &self,
        number: &str,
        caller: &str,
        directory: &Directory,
    ) -> Option<FeatureCall> {
        let feature = self
            .codes
            .iter()
            .find(|(code, _)| !code.is_empty() && code == number)
            .map(|(_, f)| *f)?;
        let who = identity(caller);
        let agents: Vec<(String, String)> = directory
            .units()
            .iter()
            .flat_map(|u| {
                u.unit
                    .document
                    .agents
                    .iter()
                    .filter(|a| who.is_some() && identity(&a.uri) == who)
                    .map(|a| (u.id().to_string(), a.id.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let unit = agents
            .first()
            .map(|(u, _)| u.clone())
            .unwrap_or_else(|| "features".into());
        let confirm = if agents.is_empty() {
            Arc::clone(&self.error)
        } else {
            Arc::clone(&self.ok)
        };
        Some(FeatureCall {
            feature,
            agents,
            unit,
            confirm,
            error: Arc::clone(&self.error),
        })
    }
}

impl Call {
    /// Carries out a feature code before the confirmation flow answers.
    pub(super) async fn run_feature(&mut self) {
        let Some(call) = &self.feature else { return };
        let action = match call.feature {
            Feature::Login => AgentAction::Login,
            Feature::Logout => AgentAction::Logout,
            Feature::Pause => AgentAction::Pause("paused from the phone".into()),
            Feature::Unpause => AgentAction::Unpause,
        };
        let mut ok = !call.agents.is_empty();
        for (unit, agent) in call.agents.clone() {
            if let Err(e) = self.node.acd.agent(&unit, &agent, action.clone()).await {
                tracing::warn!(unit, agent, error = %e, "feature code");
                ok = false;
            }
        }
        if !ok {
            let error = Arc::clone(&call.error);
            self.flow = FlowRun::new(Arc::clone(&error.unit));
            self.unit = error;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::identity;

    #[test]
    fn identities_ignore_ports_parameters_and_case() {
        assert_eq!(
            identity("sip:Anna@127.0.0.1:5091;transport=udp").as_deref(),
            Some("anna@127.0.0.1")
        );
        assert_eq!(
            identity("sip:anna@127.0.0.1").as_deref(),
            Some("anna@127.0.0.1")
        );
        assert_eq!(
            identity("sip:pau@[2001:db8::1]:5060").as_deref(),
            Some("pau@[2001:db8::1]")
        );
        assert_eq!(identity("tel:+34931234567"), None);
    }
}
