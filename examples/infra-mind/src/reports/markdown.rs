//! Markdown output.

use super::Document;

pub(super) fn render(doc: &Document) -> String {
    let mut out = format!("# {}\n\n_{}_\n", doc.title, doc.subtitle);
    for section in &doc.sections {
        out.push_str(&format!("\n## {}\n\n", section.heading));
        if section.lines.is_empty() {
            out.push_str("None.\n");
        }
        for line in &section.lines {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out
}
