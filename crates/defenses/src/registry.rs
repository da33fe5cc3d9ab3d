//! The one `--defend` grammar every command parses, over the defences registered in
//! [`crate::DEFENSES`]. Adding a defence means writing its module (its `INFO`, its
//! configuration implementing [`Defense`], its `parse_form` and `ENTRY`) and naming it once
//! in the `registered!` list in `lib.rs`.

use std::sync::Arc;

use aisec_ml::model::Classifier;

use crate::defense::{Defense, DefenseInfo, Family};
use crate::guard::Guarded;
use crate::DEFENSES as ENTRIES;

/// A defence as the command line configured it.
#[derive(Clone)]
pub struct DefenseSpec(Arc<dyn Defense>);

impl DefenseSpec {
    pub fn new(defense: impl Defense) -> DefenseSpec {
        DefenseSpec(Arc::new(defense))
    }

    pub fn as_defense(&self) -> &dyn Defense {
        self.0.as_ref()
    }

    pub fn info(&self) -> &'static DefenseInfo {
        self.0.info()
    }

    /// The configuration, when the defence is of type `T` (for the assessments that run
    /// a training-data defence themselves).
    pub fn config<T: Defense>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref()
    }

    /// `model` behind this defence, for defences on the query path.
    pub fn guard(&self, model: Arc<dyn Classifier>, seed: u64) -> Option<Guarded> {
        self.0.guard(model, seed)
    }

    /// The target the adaptive attack meets, when the defence has one on the query path.
    pub fn adaptive_guard(&self, model: Arc<dyn Classifier>, seed: u64) -> Option<Guarded> {
        self.0.adaptive_guard(model, seed)
    }

    /// Parses one `--defend` value, e.g. `round:2`, `prada:0.9`, `smooth:0.25`.
    pub fn parse(text: &str) -> Result<DefenseSpec, String> {
        // Only the keyword is case-blind: an argument may be a path.
        let trimmed = text.trim();
        let (keyword, argument) = match trimmed.split_once(':') {
            Some((k, a)) => (k.to_ascii_lowercase(), Some(a)),
            None => (trimmed.to_ascii_lowercase(), None),
        };
        let keyword = keyword.as_str();
        for entry in ENTRIES {
            if let Some(parsed) = (entry.parse)(keyword, argument) {
                return parsed.map_err(|why| {
                    format!(
                        "`{text}` is not a valid {}: {why} (forms: {})",
                        entry.info.name,
                        entry.info.forms.join(", ")
                    )
                });
            }
        }
        Err(format!(
            "`{text}` is not a defence: expected one of {} (see `aisec defend list`)",
            all_forms().join(", ")
        ))
    }

    /// Refuses a defence that the command's attack family does not measure, naming the
    /// command that does.
    pub fn check_family(&self, family: Family) -> Result<(), String> {
        let info = self.info();
        if info.families.contains(&family) {
            return Ok(());
        }
        let commands: Vec<&str> = info.families.iter().map(|f| f.command()).collect();
        Err(format!(
            "--defend: {} ({} on {}) is measured by `{}`, not by this command",
            info.name,
            info.action.as_str(),
            info.applies_to.as_str(),
            commands.join("` or `")
        ))
    }
}

impl std::fmt::Debug for DefenseSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.info().name, self.0.settings())
    }
}

/// The same defence with the same settings.
impl PartialEq for DefenseSpec {
    fn eq(&self, other: &DefenseSpec) -> bool {
        self.info().name == other.info().name && self.0.settings() == other.0.settings()
    }
}

type Parse = fn(&str, Option<&str>) -> Option<Result<DefenseSpec, String>>;

/// A registered defence: its description and the parser of its `--defend` forms (`None`
/// when the keyword is not its own). Each module declares its own as `ENTRY`.
pub struct Entry {
    pub info: &'static DefenseInfo,
    pub parse: Parse,
}

/// The entry of a defence with no `--defend` form (run by its own command).
pub(crate) const fn unparsed(info: &'static DefenseInfo) -> Entry {
    Entry {
        info,
        parse: |_, _| None,
    }
}

/// Every `--defend` spelling.
pub fn all_forms() -> Vec<&'static str> {
    ENTRIES
        .iter()
        .flat_map(|e| e.info.forms.iter().copied())
        .collect()
}

/// The spellings a command of `family` accepts, for its `--defend` help.
pub fn forms_for(family: Family) -> Vec<&'static str> {
    ENTRIES
        .iter()
        .filter(|e| e.info.families.contains(&family))
        .flat_map(|e| e.info.forms.iter().copied())
        .collect()
}

pub fn defenses() -> impl Iterator<Item = &'static DefenseInfo> {
    ENTRIES.iter().map(|e| e.info)
}

pub fn find(name: &str) -> Option<&'static DefenseInfo> {
    let wanted = name.trim().to_ascii_lowercase();
    defenses().find(|d| d.name == wanted || d.name.strip_prefix("defense.") == Some(&*wanted))
}

/// A keyword without an argument, for defences spelled by one word.
pub(crate) fn bare(argument: Option<&str>, defense: impl Defense) -> Result<DefenseSpec, String> {
    match argument {
        None => Ok(DefenseSpec::new(defense)),
        Some(a) => Err(format!("it takes no argument (found `:{a}`)")),
    }
}

/// A number argument in `accepted`.
pub(crate) fn number<T: std::str::FromStr>(
    argument: Option<&str>,
    what: &str,
    accepted: impl Fn(&T) -> bool,
) -> Result<T, String> {
    argument
        .ok_or_else(|| format!("it needs {what} after a colon"))?
        .trim()
        .parse()
        .ok()
        .filter(|v| accepted(v))
        .ok_or_else(|| format!("expected {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_valid_mitigations_and_attacks() {
        for d in defenses() {
            assert!(d.name.starts_with("defense."), "{}", d.name);
            assert!(!d.families.is_empty() && !d.phases.is_empty(), "{}", d.name);
            for m in d.mitigations {
                let r = aisec_core::AtlasRef::parse(m).unwrap();
                assert_eq!(r.kind(), aisec_core::AtlasRefKind::Mitigation, "{m}");
            }
            let poisoning = aisec_attacks::registry::poisoning_attacks();
            // LLM probes live in aisec-llm, above this crate; the CLI's tests check those.
            if d.families == [Family::Llm] {
                continue;
            }
            for a in d.measured_by {
                assert!(
                    aisec_attacks::registry::find_evasion(a).is_some()
                        || aisec_attacks::registry::find_extraction(a).is_some()
                        || aisec_attacks::membership::find(a).is_some()
                        || poisoning.iter().any(|p| p.name == *a)
                        || aisec_attacks::registry::listing()
                            .iter()
                            .any(|p| p.name == *a),
                    "{a}"
                );
            }
        }
        assert_eq!(find("adv-train").unwrap().name, "defense.adv-train");
    }

    #[test]
    fn every_form_parses_to_its_own_defence() {
        for entry in ENTRIES {
            for form in entry.info.forms {
                let example = form
                    .replace(":DELTA", ":0.9")
                    .replace(":SIGMA", ":0.25")
                    .replace(":D", ":2")
                    .replace(":K", ":3")
                    .replace(":N", ":100")
                    .replace(":Q", ":10")
                    .replace(":EPSILON", ":8")
                    .replace(":LAMBDA", ":0.001")
                    .replace(":G", ":16")
                    .replace(":MS", ":5");
                let spec = DefenseSpec::parse(&example).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(spec.info().name, entry.info.name, "{example}");
                assert_eq!(spec.as_defense().reference().name, entry.info.name);
            }
        }
    }

    #[test]
    fn bad_forms_name_what_was_expected() {
        let err = DefenseSpec::parse("round:x").unwrap_err();
        assert!(
            err.contains("defense.output-hardening") && err.contains("round:D"),
            "{err}"
        );
        let err = DefenseSpec::parse("firewall").unwrap_err();
        assert!(err.contains("squeeze") && err.contains("spectral"), "{err}");
        let err = DefenseSpec::parse("strip:3").unwrap_err();
        assert!(err.contains("no argument"), "{err}");
        let spec = DefenseSpec::parse("strip").unwrap();
        let err = spec.check_family(Family::Evasion).unwrap_err();
        assert!(err.contains("`aisec attack poison`"), "{err}");
        assert!(spec.check_family(Family::Poisoning).is_ok());
    }
}
