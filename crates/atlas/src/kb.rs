//! The knowledge base: ATLAS objects flattened across matrices, with the reverse links
//! every view needs (technique → mitigations, technique → case studies, tactic →
//! techniques, parent → sub-techniques) and a search index.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aisec_core::AtlasRefKind;

use crate::error::AtlasError;
use crate::model::{Atlas, CaseStudy, Maturity, Mitigation, Tactic, Technique};
use crate::search::SearchIndex;

/// Facts of ATLAS compiled into the binary (see `aisec atlas embed`).
pub const EMBEDDED_FACTS: &str = include_str!("../data/atlas-facts.json");

/// Where the knowledge base came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Embedded,
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Embedded => f.write_str("embedded facts"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A reference to one object of the knowledge base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectRef {
    Tactic(usize),
    Technique(usize),
    Mitigation(usize),
    CaseStudy(usize),
}

#[derive(Debug, Clone)]
pub struct MatrixInfo {
    pub id: String,
    pub name: String,
    /// Indices into [`KnowledgeBase::tactics`], in matrix order.
    pub tactics: Vec<usize>,
}

#[derive(Debug)]
pub struct KnowledgeBase {
    pub id: String,
    pub name: String,
    pub version: String,
    pub source: Source,
    pub matrices: Vec<MatrixInfo>,
    pub tactics: Vec<Tactic>,
    pub techniques: Vec<Technique>,
    pub mitigations: Vec<Mitigation>,
    pub case_studies: Vec<CaseStudy>,
    by_id: HashMap<String, ObjectRef>,
    tactic_techniques: Vec<Vec<usize>>,
    subtechniques: Vec<Vec<usize>>,
    technique_mitigations: Vec<Vec<usize>>,
    technique_case_studies: Vec<Vec<usize>>,
    search: SearchIndex,
}

impl KnowledgeBase {
    /// The facts compiled into the binary: no descriptions.
    pub fn embedded() -> Result<Self, AtlasError> {
        let atlas: Atlas = serde_json::from_str(EMBEDDED_FACTS).map_err(|e| AtlasError::Parse {
            path: PathBuf::from("<embedded>"),
            message: e.to_string(),
        })?;
        Ok(Self::from_atlas(atlas, Source::Embedded))
    }

    /// A full official ATLAS.yaml, descriptions included.
    pub fn from_path(path: &Path) -> Result<Self, AtlasError> {
        let atlas = crate::load::read_atlas_file(path)?;
        Ok(Self::from_atlas(atlas, Source::File(path.to_path_buf())))
    }

    /// `path` when given, else the embedded facts.
    pub fn load(path: Option<&Path>) -> Result<Self, AtlasError> {
        match path {
            Some(p) => Self::from_path(p),
            None => Self::embedded(),
        }
    }

    pub fn from_atlas(atlas: Atlas, source: Source) -> Self {
        let mut matrices = Vec::new();
        let mut tactics = Vec::new();
        let mut techniques = Vec::new();
        let mut mitigations = Vec::new();
        for matrix in atlas.matrices {
            let start = tactics.len();
            let count = matrix.tactics.len();
            tactics.extend(matrix.tactics);
            techniques.extend(matrix.techniques);
            mitigations.extend(matrix.mitigations);
            matrices.push(MatrixInfo {
                id: matrix.id,
                name: matrix.name,
                tactics: (start..start + count).collect(),
            });
        }
        let case_studies = atlas.case_studies;

        // First occurrence wins so that a duplicated ID cannot shadow the original;
        // the validator reports the duplicate.
        let mut by_id = HashMap::new();
        let refs = tactics
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), ObjectRef::Tactic(i)))
            .chain(
                techniques
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.id.clone(), ObjectRef::Technique(i))),
            )
            .chain(
                mitigations
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (m.id.clone(), ObjectRef::Mitigation(i))),
            )
            .chain(
                case_studies
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.id.clone(), ObjectRef::CaseStudy(i))),
            );
        for (id, r) in refs {
            by_id.entry(id).or_insert(r);
        }

        let technique_index = |id: &str| match by_id.get(id) {
            Some(ObjectRef::Technique(i)) => Some(*i),
            _ => None,
        };
        let tactic_index = |id: &str| match by_id.get(id) {
            Some(ObjectRef::Tactic(i)) => Some(*i),
            _ => None,
        };

        let mut tactic_techniques = vec![Vec::new(); tactics.len()];
        let mut subtechniques = vec![Vec::new(); techniques.len()];
        for (i, t) in techniques.iter().enumerate() {
            match &t.subtechnique_of {
                Some(parent) => {
                    if let Some(p) = technique_index(parent) {
                        subtechniques[p].push(i);
                    }
                }
                None => {
                    for tac in &t.tactics {
                        if let Some(ti) = tactic_index(tac) {
                            tactic_techniques[ti].push(i);
                        }
                    }
                }
            }
        }

        let mut technique_mitigations = vec![Vec::new(); techniques.len()];
        for (mi, m) in mitigations.iter().enumerate() {
            for u in &m.techniques {
                if let Some(ti) = technique_index(&u.id) {
                    if !technique_mitigations[ti].contains(&mi) {
                        technique_mitigations[ti].push(mi);
                    }
                }
            }
        }

        let mut technique_case_studies = vec![Vec::new(); techniques.len()];
        for (ci, c) in case_studies.iter().enumerate() {
            for step in &c.procedure {
                if let Some(ti) = technique_index(&step.technique) {
                    if !technique_case_studies[ti].contains(&ci) {
                        technique_case_studies[ti].push(ci);
                    }
                }
            }
        }

        let search = SearchIndex::build(&tactics, &techniques, &mitigations, &case_studies);

        KnowledgeBase {
            id: atlas.id,
            name: atlas.name,
            version: atlas.version,
            source,
            matrices,
            tactics,
            techniques,
            mitigations,
            case_studies,
            by_id,
            tactic_techniques,
            subtechniques,
            technique_mitigations,
            technique_case_studies,
            search,
        }
    }

    /// Whether descriptions and mitigation "use" text are available.
    pub fn has_full_text(&self) -> bool {
        self.techniques.iter().any(|t| t.description.is_some())
    }

    pub fn get(&self, id: &str) -> Option<ObjectRef> {
        self.by_id.get(id).copied()
    }

    /// Looks an ID up the way people type it: any case, `AML.` prefix optional.
    pub fn resolve(&self, text: &str) -> Option<ObjectRef> {
        let trimmed = text.trim();
        let upper = trimmed.to_ascii_uppercase();
        self.get(trimmed)
            .or_else(|| self.get(&upper))
            .or_else(|| self.get(&format!("AML.{upper}")))
    }

    pub fn object_id(&self, r: ObjectRef) -> &str {
        match r {
            ObjectRef::Tactic(i) => &self.tactics[i].id,
            ObjectRef::Technique(i) => &self.techniques[i].id,
            ObjectRef::Mitigation(i) => &self.mitigations[i].id,
            ObjectRef::CaseStudy(i) => &self.case_studies[i].id,
        }
    }

    pub fn object_name(&self, r: ObjectRef) -> &str {
        match r {
            ObjectRef::Tactic(i) => &self.tactics[i].name,
            ObjectRef::Technique(i) => &self.techniques[i].name,
            ObjectRef::Mitigation(i) => &self.mitigations[i].name,
            ObjectRef::CaseStudy(i) => &self.case_studies[i].name,
        }
    }

    pub fn object_kind(&self, r: ObjectRef) -> AtlasRefKind {
        match r {
            ObjectRef::Tactic(_) => AtlasRefKind::Tactic,
            ObjectRef::Technique(i) if self.techniques[i].is_subtechnique() => {
                AtlasRefKind::SubTechnique
            }
            ObjectRef::Technique(_) => AtlasRefKind::Technique,
            ObjectRef::Mitigation(_) => AtlasRefKind::Mitigation,
            ObjectRef::CaseStudy(_) => AtlasRefKind::CaseStudy,
        }
    }

    /// The object's page on atlas.mitre.org.
    pub fn object_url(&self, r: ObjectRef) -> String {
        format!(
            "https://atlas.mitre.org/{}/{}",
            self.object_kind(r).web_route(),
            self.object_id(r)
        )
    }

    pub fn technique(&self, id: &str) -> Option<&Technique> {
        match self.get(id)? {
            ObjectRef::Technique(i) => Some(&self.techniques[i]),
            _ => None,
        }
    }

    pub fn tactic(&self, id: &str) -> Option<&Tactic> {
        match self.get(id)? {
            ObjectRef::Tactic(i) => Some(&self.tactics[i]),
            _ => None,
        }
    }

    pub fn mitigation(&self, id: &str) -> Option<&Mitigation> {
        match self.get(id)? {
            ObjectRef::Mitigation(i) => Some(&self.mitigations[i]),
            _ => None,
        }
    }

    pub fn case_study(&self, id: &str) -> Option<&CaseStudy> {
        match self.get(id)? {
            ObjectRef::CaseStudy(i) => Some(&self.case_studies[i]),
            _ => None,
        }
    }

    /// A technique's tactics; a sub-technique's are its parent's.
    pub fn effective_tactics<'a>(&'a self, technique: &'a Technique) -> &'a [String] {
        if let Some(parent) = technique
            .subtechnique_of
            .as_deref()
            .and_then(|p| self.technique(p))
        {
            return &parent.tactics;
        }
        &technique.tactics
    }

    /// A technique's maturity; a sub-technique without one takes its parent's.
    pub fn effective_maturity(&self, technique: &Technique) -> Option<Maturity> {
        technique.maturity.or_else(|| {
            technique
                .subtechnique_of
                .as_deref()
                .and_then(|p| self.technique(p))
                .and_then(|p| p.maturity)
        })
    }

    /// Top-level techniques of a tactic, in ATLAS order.
    pub fn techniques_of_tactic(&self, tactic: usize) -> &[usize] {
        &self.tactic_techniques[tactic]
    }

    pub fn subtechniques_of(&self, technique: usize) -> &[usize] {
        &self.subtechniques[technique]
    }

    pub fn mitigations_of(&self, technique: usize) -> &[usize] {
        &self.technique_mitigations[technique]
    }

    pub fn case_studies_of(&self, technique: usize) -> &[usize] {
        &self.technique_case_studies[technique]
    }

    pub fn search_index(&self) -> &SearchIndex {
        &self.search
    }

    /// Known IDs closest to an unknown one, for "did you mean" messages.
    pub fn nearest_ids(&self, wanted: &str, limit: usize) -> Vec<String> {
        let wanted_upper = wanted.trim().to_ascii_uppercase();
        let candidates = [wanted_upper.clone(), format!("AML.{wanted_upper}")];
        let mut scored: Vec<(usize, &str)> = self
            .by_id
            .keys()
            .map(|id| {
                let d = candidates
                    .iter()
                    .map(|c| crate::search::edit_distance(c, id))
                    .min()
                    .unwrap_or(usize::MAX);
                (d, id.as_str())
            })
            .filter(|(d, _)| *d <= 2)
            .collect();
        scored.sort();
        let mut out: Vec<String> = scored
            .into_iter()
            .take(limit)
            .map(|(_, id)| id.to_string())
            .collect();
        if out.is_empty() {
            out = self
                .search
                .search(self, wanted, limit)
                .into_iter()
                .map(|hit| self.object_id(hit.object).to_string())
                .collect();
        }
        out
    }
}
