//! A self-contained HTML report: no scripts, no external files, plots as inline SVG. Rendered
//! with maud, which escapes every interpolated string; only the SVG that [`crate::svg`] draws
//! goes in as markup.

use aisec_core::{Finding, Severity};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Serialize;

/// What the report shows, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Document {
    pub title: String,
    /// Facts shown under the title (target, seed, tool version, wall time).
    pub facts: Vec<(String, String)>,
    pub findings: Vec<Finding>,
    /// Shown before the findings, under "Summary", when not empty.
    pub summary: Vec<Block>,
    /// When not empty, the findings are shown in these groups (instead of `findings` in one
    /// table), each mitigation described once after them.
    pub finding_groups: Vec<FindingGroup>,
    pub sections: Vec<Section>,
    /// Names of the ATLAS objects the findings cite, shown next to their IDs.
    pub names: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub enum Block {
    Paragraph(String),
    /// A heading inside a section.
    Subheading(String),
    Table {
        headers: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// Trusted SVG produced by [`crate::svg`].
    Svg(String),
    /// Several SVGs side by side with a caption.
    Figures {
        items: Vec<String>,
        caption: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingGroup {
    pub heading: String,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub heading: String,
    pub blocks: Vec<Block>,
}

/// Trusted SVG from [`crate::svg`], inserted as markup (everything else is escaped).
fn trusted_svg(svg: &str) -> PreEscaped<&str> {
    PreEscaped(svg)
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Info => "info",
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}\
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.sev{font-weight:bold;text-transform:uppercase;font-size:.8rem;padding:.1rem .4rem;border-radius:.2rem}\
.high{background:#f46d43;color:#fff}.medium{background:#fdae61}.low{background:#ffe08a}.info{background:#ddd}\
figure{display:inline-block;margin:0 1rem 1rem 0}figcaption{font-size:.85rem;color:#555}\
.facts td:first-child{font-weight:bold}";

/// An ATLAS ID linked to its page on the ATLAS website, with its name when the document
/// knows it.
fn atlas_ref(doc: &Document, id: &str) -> Markup {
    let route = match aisec_core::AtlasRef::parse(id).map(|r| r.kind()) {
        Ok(k) => k.web_route(),
        Err(_) => "techniques",
    };
    html! {
        a href=(format!("https://atlas.mitre.org/{route}/{id}")) { (id) }
        @if let Some(name) = doc.names.get(id) { " " (name) }
    }
}

/// A finding's severity, title and ATLAS techniques, as table cells.
fn finding_cells(doc: &Document, f: &Finding) -> Markup {
    html! {
        td { span class=(format!("sev {}", severity_class(f.severity))) { (f.severity) } }
        td { (f.title) }
        td {
            @for (i, a) in f.atlas.iter().enumerate() {
                @if i > 0 { br; }
                (atlas_ref(doc, a.as_str()))
            }
        }
    }
}

/// Findings naming their mitigations by ID and name only; the phases are in the mitigation
/// table after the groups.
fn grouped_findings(doc: &Document) -> Markup {
    let mut mitigations: Vec<(&str, &[String], Vec<&str>)> = Vec::new();
    for g in &doc.finding_groups {
        for m in g.findings.iter().flat_map(|f| &f.mitigations) {
            match mitigations
                .iter_mut()
                .find(|(id, _, _)| *id == m.id.as_str())
            {
                Some((_, _, groups)) if !groups.contains(&g.heading.as_str()) => {
                    groups.push(&g.heading)
                }
                Some(_) => {}
                None => mitigations.push((m.id.as_str(), &m.phases, vec![&g.heading])),
            }
        }
    }
    mitigations.sort_by(|a, b| a.0.cmp(b.0));
    html! {
        @for g in &doc.finding_groups {
            h3 { (g.heading) " (" (g.findings.len()) ")" }
            table {
                tr { th { "Severity" } th { "Finding" } th { "ATLAS techniques" } th { "Mitigations" } }
                @for f in &g.findings {
                    tr {
                        (finding_cells(doc, f))
                        td {
                            @for (i, m) in f.mitigations.iter().enumerate() {
                                @if i > 0 { ", " }
                                (m.id.as_str())
                            }
                        }
                    }
                }
            }
        }
        h3 { "Mitigations" }
        table {
            tr { th { "Mitigation" } th { "Lifecycle phases" } th { "Against" } }
            @for (id, phases, groups) in &mitigations {
                tr {
                    td { (atlas_ref(doc, id)) }
                    td { (phases.join("; ")) }
                    td { (groups.join("; ")) }
                }
            }
        }
    }
}

fn findings_table(doc: &Document) -> Markup {
    html! {
        table {
            tr {
                th { "Severity" }
                th { "Finding" }
                th { "ATLAS techniques" }
                th { "Recommended mitigations (lifecycle phase)" }
            }
            @for f in &doc.findings {
                tr {
                    (finding_cells(doc, f))
                    td {
                        @for (i, m) in f.mitigations.iter().enumerate() {
                            @if i > 0 { br; }
                            (atlas_ref(doc, m.id.as_str()))
                            @if !m.phases.is_empty() { " (" (m.phases.join("; ")) ")" }
                        }
                    }
                }
            }
        }
    }
}

/// Each framework's items that the findings evidence or their mitigations serve: the
/// report's answer to "what does this assessment show for MEASURE 2.7".
fn framework_view(doc: &Document) -> Markup {
    let findings: Vec<&Finding> = if doc.finding_groups.is_empty() {
        doc.findings.iter().collect()
    } else {
        doc.finding_groups
            .iter()
            .flat_map(|g| &g.findings)
            .collect()
    };
    let view = crate::frameworks::view(findings);
    html! {
        @if !view.is_empty() {
            h2 { "Policy frameworks" }
            p {
                "What each item of these frameworks gets from this report: the findings that evidence it and the recommended mitigations that serve it (aisec's mapping, with a reason per entry: "
                code { "crates/atlas/data/frameworks.yaml" } ")."
            }
            @for (name, source, items) in &view {
                h3 { (name) }
                p { small { (source) } }
                table {
                    tr { th { "Item" } th { "In short" } th { "Evidence in this report" } th { "Mitigations that serve it" } }
                    @for item in items {
                        tr {
                            td { (item.item) }
                            td { (item.title) }
                            td {
                                @if item.findings.is_empty() { "—" }
                                @for (i, (severity, title)) in item.findings.iter().enumerate() {
                                    @if i > 0 { br; }
                                    span class=(format!("sev {}", severity_class(*severity))) { (severity) }
                                    " " (crate::run_view::short(title, 200))
                                }
                            }
                            td {
                                @for (i, id) in item.mitigations.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    (atlas_ref(doc, id))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One block as markup (the web UI draws run pages with the report's blocks).
pub fn block(b: &Block) -> Markup {
    html! {
        @match b {
            Block::Paragraph(p) => p { (p) },
            Block::Subheading(h) => h3 { (h) },
            Block::Table { headers, rows } => table {
                tr { @for h in headers { th { (h) } } }
                @for row in rows { tr { @for cell in row { td { (cell) } } } }
            },
            Block::Svg(svg) => figure { (trusted_svg(svg)) },
            Block::Figures { items, caption } => div {
                @for svg in items { figure { (trusted_svg(svg)) } }
                p { em { (caption) } }
            },
        }
    }
}

pub fn render(doc: &Document) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (doc.title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (doc.title) }
                @if !doc.facts.is_empty() {
                    table.facts {
                        @for (k, v) in &doc.facts { tr { td { (k) } td { (v) } } }
                    }
                }
                @if !doc.summary.is_empty() {
                    h2 { "Summary" }
                    @for b in &doc.summary { (block(b)) }
                }
                @let count = if doc.finding_groups.is_empty() {
                    doc.findings.len()
                } else {
                    doc.finding_groups.iter().map(|g| g.findings.len()).sum()
                };
                h2 { "Findings (" (count) ")" }
                @if !doc.finding_groups.is_empty() {
                    (grouped_findings(doc))
                } @else if doc.findings.is_empty() {
                    p { "No findings." }
                } @else {
                    (findings_table(doc))
                }
                @for section in &doc.sections {
                    h2 { (section.heading) }
                    @for b in &section.blocks { (block(b)) }
                }
                (framework_view(doc))
                hr;
                p { small { "Generated by aisec " (env!("CARGO_PKG_VERSION")) ". ATLAS data © MITRE, Apache-2.0." } }
            }
        }
    };
    let mut out = page.into_string();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_findings_and_escapes_text() {
        let mut f = Finding::new(
            "PGD <evades>",
            Severity::High,
            vec![aisec_core::AtlasRef::parse("AML.T0015").unwrap()],
        );
        f.mitigations.push(aisec_core::MitigationRef {
            id: aisec_core::AtlasRef::parse("AML.M0003").unwrap(),
            phases: vec!["ML Model Engineering".into()],
        });
        let doc = Document {
            title: "t".into(),
            facts: vec![("seed".into(), "7".into())],
            findings: vec![f],
            summary: Vec::new(),
            finding_groups: Vec::new(),
            sections: vec![Section {
                heading: "S".into(),
                blocks: vec![Block::Table {
                    headers: vec!["a".into()],
                    rows: vec![vec!["<b>".into()]],
                }],
            }],
            names: [("AML.M0003".to_string(), "Model Hardening".to_string())]
                .into_iter()
                .collect(),
        };
        let html = render(&doc);
        assert!(html.contains("PGD &lt;evades&gt;") && html.contains("&lt;b&gt;"));
        assert!(html.contains("https://atlas.mitre.org/techniques/AML.T0015"));
        assert!(html.contains("https://atlas.mitre.org/mitigations/AML.M0003"));
        assert!(html.contains("(ML Model Engineering)"));
        assert!(
            html.contains("AML.M0003</a> Model Hardening"),
            "names follow their IDs"
        );
        assert!(!html.contains("<script"));
        assert!(
            html.contains("Policy frameworks") && html.contains("MEASURE 2.7"),
            "the per-framework view"
        );
        insta::assert_snapshot!(html);
    }
}
