//! The units this node serves, read from a folder (the embedded default):
//! one YAML document per unit, `_university.yaml` for the university-wide
//! closures, and each unit's prompts under `prompts/<unit>/`.
//!
//! Everything is checked before the node takes a call: a unit with an
//! invalid document, a missing or malformed prompt, or a service number
//! another unit already has is refused with a message naming the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cc_flow::{load_unit, Unit, UniversityCalendar};
use cc_media::prompt::{tone, Prompt};

/// A unit ready for calls: its checked document and its prompts, encoded.
#[derive(Debug)]
pub struct UnitRuntime {
    pub unit: Arc<Unit>,
    pub prompts: HashMap<String, Prompt>,
    /// What the unit may dial: its document's outbound scope and numbers.
    pub outbound: cc_numbering::Scope,
}

impl UnitRuntime {
    /// A prompt by name; the voicemail beep falls back to a built-in tone.
    pub fn prompt(&self, name: &str) -> Option<Prompt> {
        self.prompts
            .get(name)
            .cloned()
            .or_else(|| (name == cc_flow::interpreter::BEEP).then(beep))
    }

    pub fn id(&self) -> &str {
        self.unit.id()
    }
}

fn beep() -> Prompt {
    tone("beep", 1000.0, Duration::from_millis(400), 8000)
}

/// Every unit, by service number.
#[derive(Debug, Default)]
pub struct Directory {
    by_number: HashMap<String, Arc<UnitRuntime>>,
    units: Vec<Arc<UnitRuntime>>,
}

impl Directory {
    /// The unit a number reaches.
    pub fn by_number(&self, number: &str) -> Option<&Arc<UnitRuntime>> {
        self.by_number.get(number)
    }

    pub fn units(&self) -> &[Arc<UnitRuntime>] {
        &self.units
    }

    /// Loads a folder. Errors list every problem found.
    pub fn load(folder: &Path) -> Result<Directory, String> {
        let (directory, errors) = Directory::load_each(folder)?;
        if errors.is_empty() {
            Ok(directory)
        } else {
            Err(errors.join("\n"))
        }
    }

    /// Loads every unit of a folder that loads, and says what did not (a
    /// configuration from PostgreSQL: one unit's problem must not take
    /// the others off the air).
    pub fn load_each(folder: &Path) -> Result<(Directory, Vec<String>), String> {
        let entries =
            std::fs::read_dir(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let university = match files
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s == "_university"))
        {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                serde_norway::from_str::<UniversityCalendar>(&text).map_err(|e| {
                    format!("{}: not a valid university calendar: {e}", path.display())
                })?
            }
            None => UniversityCalendar::default(),
        };
        // With the governance API, what each unit is approved to dial (the
        // configuration export writes it): it stands for the documents'
        // own outbound sections.
        let approved: HashMap<String, cc_numbering::Scope> =
            std::fs::read_to_string(folder.join(APPROVED_FILE))
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
        let mut directory = Directory::default();
        let mut errors = Vec::new();
        for path in files.iter().filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('_'))
        }) {
            match load_one(folder, path, &university) {
                Ok(mut runtime) => {
                    if let Some(scope) = approved.get(runtime.id()) {
                        runtime.outbound = scope.clone();
                    }
                    let runtime = Arc::new(runtime);
                    for number in &runtime.unit.document.service_numbers {
                        if let Some(other) = directory.by_number.get(number) {
                            errors.push(format!(
                                "{}: service number {number} is already unit {:?}'s",
                                path.display(),
                                other.id()
                            ));
                            continue;
                        }
                        directory
                            .by_number
                            .insert(number.clone(), Arc::clone(&runtime));
                    }
                    if directory.units.iter().any(|u| u.id() == runtime.id()) {
                        errors.push(format!(
                            "{}: unit id {:?} is used twice",
                            path.display(),
                            runtime.id()
                        ));
                    }
                    directory.units.push(runtime);
                }
                Err(e) => errors.push(e),
            }
        }
        Ok((directory, errors))
    }
}

fn load_one(
    folder: &Path,
    path: &Path,
    university: &UniversityCalendar,
) -> Result<UnitRuntime, String> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{label}: {e}"))?;
    let unit = load_unit(&label, &text, university).map_err(|e| e.to_string())?;
    let prompt_dir = folder.join("prompts").join(unit.id());
    let mut prompts = HashMap::new();
    let mut errors = Vec::new();
    for (name, file) in &unit.document.prompts {
        let file_path = prompt_dir.join(file);
        match std::fs::File::open(&file_path) {
            Ok(f) => match Prompt::from_wav(name, std::io::BufReader::new(f)) {
                Ok(p) => {
                    prompts.insert(name.clone(), p);
                }
                Err(e) => errors.push(format!("{label}: {e} ({})", file_path.display())),
            },
            Err(e) => errors.push(format!(
                "{label}: prompt {name:?}: {}: {e}",
                file_path.display()
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    Ok(UnitRuntime {
        outbound: outbound_of(&unit.document),
        unit: Arc::new(unit),
        prompts,
    })
}

/// In a units folder exported from PostgreSQL: `{unit: Scope}` approved.
pub const APPROVED_FILE: &str = "_approved.json";

/// The outbound scope a document declares.
pub fn outbound_of(document: &cc_flow::UnitDocument) -> cc_numbering::Scope {
    cc_numbering::Scope {
        up_to: cc_governance::cost::scope_class(document.outbound.scope),
        numbers: document.outbound.numbers.iter().cloned().collect(),
    }
}
