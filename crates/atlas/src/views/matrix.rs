//! The ATLAS matrix: tactics as columns in ATLAS order, each with its techniques.

use serde::Serialize;

use super::truncate;
use crate::kb::KnowledgeBase;
use crate::model::Maturity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtechniqueMode {
    /// A count after the technique's name, e.g. `(+3)`.
    Counted,
    /// Each sub-technique on its own indented line.
    Listed,
}

#[derive(Debug, Clone, Serialize)]
pub struct MatrixView {
    pub atlas_version: String,
    /// Techniques below this maturity are hidden, like the website's slider.
    pub min_maturity: Option<Maturity>,
    pub tactics: Vec<TacticColumn>,
    /// Distinct techniques shown (one that sits under several tactics counts once).
    pub technique_count: usize,
    pub subtechnique_count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct TacticColumn {
    pub id: String,
    pub name: String,
    pub techniques: Vec<Cell>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub id: String,
    pub name: String,
    pub maturity: Option<Maturity>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subtechniques: Vec<Cell>,
}

impl MatrixView {
    /// The first matrix of the knowledge base, filtered to `min_maturity` and above.
    pub fn new(kb: &KnowledgeBase, min_maturity: Option<Maturity>) -> Self {
        let keep = |m: Option<Maturity>| match min_maturity {
            None => true,
            Some(min) => m.is_some_and(|m| m >= min),
        };
        let mut seen_techniques = std::collections::HashSet::new();
        let mut seen_subtechniques = std::collections::HashSet::new();
        let tactics = kb
            .matrices
            .first()
            .map(|m| m.tactics.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|&ti| {
                let tactic = &kb.tactics[ti];
                let techniques: Vec<Cell> = kb
                    .techniques_of_tactic(ti)
                    .iter()
                    .filter_map(|&i| {
                        let t = &kb.techniques[i];
                        let maturity = kb.effective_maturity(t);
                        let subtechniques: Vec<Cell> = kb
                            .subtechniques_of(i)
                            .iter()
                            .map(|&s| &kb.techniques[s])
                            .filter(|s| keep(kb.effective_maturity(s)))
                            .map(|s| Cell {
                                id: s.id.clone(),
                                name: s.name.clone(),
                                maturity: kb.effective_maturity(s),
                                subtechniques: Vec::new(),
                            })
                            .collect();
                        // A technique stays when it or one of its sub-techniques qualifies.
                        if !keep(maturity) && subtechniques.is_empty() {
                            return None;
                        }
                        Some(Cell {
                            id: t.id.clone(),
                            name: t.name.clone(),
                            maturity,
                            subtechniques,
                        })
                    })
                    .collect();
                for c in &techniques {
                    seen_techniques.insert(c.id.clone());
                    seen_subtechniques.extend(c.subtechniques.iter().map(|s| s.id.clone()));
                }
                TacticColumn {
                    id: tactic.id.clone(),
                    name: tactic.name.clone(),
                    techniques,
                }
            })
            .collect();
        MatrixView {
            atlas_version: kb.version.clone(),
            min_maturity,
            tactics,
            technique_count: seen_techniques.len(),
            subtechnique_count: seen_subtechniques.len(),
        }
    }

    /// Columns of tactics, wrapped into bands that fit `width` terminal columns.
    pub fn render_text(&self, width: usize, mode: SubtechniqueMode) -> String {
        const MIN_COLUMN: usize = 24;
        let per_band = ((width + 1) / (MIN_COLUMN + 1)).clamp(1, self.tactics.len().max(1));
        let col = (width + 1) / per_band - 1;
        let mut out = String::new();
        let filter = self
            .min_maturity
            .map(|m| format!(", maturity {} and above", m.as_str()))
            .unwrap_or_default();
        out.push_str(&format!(
            "ATLAS {} matrix: {} tactics, {} techniques, {} sub-techniques{filter}\n",
            self.atlas_version,
            self.tactics.len(),
            self.technique_count,
            self.subtechnique_count
        ));
        for band in self.tactics.chunks(per_band) {
            out.push('\n');
            let row = |cells: Vec<String>| -> String {
                let padded: Vec<String> = cells
                    .iter()
                    .map(|c| format!("{:<col$}", truncate(c, col)))
                    .collect();
                padded.join(" ").trim_end().to_string() + "\n"
            };
            out.push_str(&row(band.iter().map(|t| t.name.to_uppercase()).collect()));
            out.push_str(&row(band
                .iter()
                .map(|t| format!("{} ({})", t.id, t.techniques.len()))
                .collect()));
            out.push_str(&row(band.iter().map(|_| "─".repeat(col)).collect()));
            let lines: Vec<Vec<String>> = band
                .iter()
                .map(|t| {
                    let mut lines = Vec::new();
                    for c in &t.techniques {
                        let local = c.id.strip_prefix("AML.").unwrap_or(&c.id);
                        match mode {
                            SubtechniqueMode::Counted if !c.subtechniques.is_empty() => {
                                let suffix = format!(" (+{})", c.subtechniques.len());
                                let room = col.saturating_sub(suffix.chars().count());
                                lines
                                    .push(truncate(&format!("{local} {}", c.name), room) + &suffix);
                            }
                            SubtechniqueMode::Counted => lines.push(format!("{local} {}", c.name)),
                            SubtechniqueMode::Listed => {
                                lines.push(format!("{local} {}", c.name));
                                for s in &c.subtechniques {
                                    let num = s.id.rsplit('.').next().unwrap_or(&s.id);
                                    lines.push(format!("  .{num} {}", s.name));
                                }
                            }
                        }
                    }
                    lines
                })
                .collect();
            let depth = lines.iter().map(Vec::len).max().unwrap_or(0);
            for i in 0..depth {
                out.push_str(&row(lines
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or_default())
                    .collect()));
            }
        }
        out
    }
}
