//! A self-contained HTML report: no scripts, no external files, plots as inline SVG.

use aisec_core::{Finding, Severity};
use serde::Serialize;

/// What the report shows, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Document {
    pub title: String,
    /// Facts shown under the title (target, seed, tool version, wall time).
    pub facts: Vec<(String, String)>,
    pub findings: Vec<Finding>,
    pub sections: Vec<Section>,
    /// Names of the ATLAS objects the findings cite, shown next to their IDs.
    pub names: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub enum Block {
    Paragraph(String),
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
pub struct Section {
    pub heading: String,
    pub blocks: Vec<Block>,
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Info => "info",
    }
}

fn atlas_link(id: &str) -> String {
    let route = match aisec_core::AtlasRef::parse(id).map(|r| r.kind()) {
        Ok(k) => k.web_route(),
        Err(_) => "techniques",
    };
    format!(
        r#"<a href="https://atlas.mitre.org/{route}/{0}">{0}</a>"#,
        escape(id)
    )
}

pub fn render(doc: &Document) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str(&format!("<title>{}</title>", escape(&doc.title)));
    out.push_str(
        "<style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}\
         table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left;vertical-align:top}\
         th{background:#f3f3f3}.sev{font-weight:bold;text-transform:uppercase;font-size:.8rem;padding:.1rem .4rem;border-radius:.2rem}\
         .high{background:#f46d43;color:#fff}.medium{background:#fdae61}.low{background:#ffe08a}.info{background:#ddd}\
         figure{display:inline-block;margin:0 1rem 1rem 0}figcaption{font-size:.85rem;color:#555}\
         .facts td:first-child{font-weight:bold}</style></head><body>",
    );
    out.push_str(&format!("<h1>{}</h1>", escape(&doc.title)));
    if !doc.facts.is_empty() {
        out.push_str("<table class=\"facts\">");
        for (k, v) in &doc.facts {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(k),
                escape(v)
            ));
        }
        out.push_str("</table>");
    }
    out.push_str(&format!("<h2>Findings ({})</h2>", doc.findings.len()));
    if doc.findings.is_empty() {
        out.push_str("<p>No findings.</p>");
    } else {
        out.push_str("<table><tr><th>Severity</th><th>Finding</th><th>ATLAS techniques</th><th>Recommended mitigations (lifecycle phase)</th></tr>");
        let named = |id: &str| match doc.names.get(id) {
            Some(name) => format!("{} {}", atlas_link(id), escape(name)),
            None => atlas_link(id),
        };
        for f in &doc.findings {
            let techniques: Vec<String> = f.atlas.iter().map(|a| named(a.as_str())).collect();
            let mitigations: Vec<String> = f
                .mitigations
                .iter()
                .map(|m| {
                    if m.phases.is_empty() {
                        named(m.id.as_str())
                    } else {
                        format!(
                            "{} ({})",
                            named(m.id.as_str()),
                            escape(&m.phases.join("; "))
                        )
                    }
                })
                .collect();
            out.push_str(&format!(
                "<tr><td><span class=\"sev {}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                severity_class(f.severity),
                f.severity,
                escape(&f.title),
                techniques.join("<br>"),
                mitigations.join("<br>")
            ));
        }
        out.push_str("</table>");
    }
    for section in &doc.sections {
        out.push_str(&format!("<h2>{}</h2>", escape(&section.heading)));
        for block in &section.blocks {
            match block {
                Block::Paragraph(p) => out.push_str(&format!("<p>{}</p>", escape(p))),
                Block::Table { headers, rows } => {
                    out.push_str("<table><tr>");
                    for h in headers {
                        out.push_str(&format!("<th>{}</th>", escape(h)));
                    }
                    out.push_str("</tr>");
                    for row in rows {
                        out.push_str("<tr>");
                        for cell in row {
                            out.push_str(&format!("<td>{}</td>", escape(cell)));
                        }
                        out.push_str("</tr>");
                    }
                    out.push_str("</table>");
                }
                Block::Svg(svg) => out.push_str(&format!("<figure>{svg}</figure>")),
                Block::Figures { items, caption } => {
                    out.push_str("<div>");
                    for svg in items {
                        out.push_str(&format!("<figure>{svg}</figure>"));
                    }
                    out.push_str(&format!("<p><em>{}</em></p></div>", escape(caption)));
                }
            }
        }
    }
    out.push_str(&format!(
        "<hr><p><small>Generated by aisec {}. ATLAS data © MITRE, Apache-2.0.</small></p></body></html>\n",
        env!("CARGO_PKG_VERSION")
    ));
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
    }
}
