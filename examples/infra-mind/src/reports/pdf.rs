//! PDF output with printpdf and the built-in Helvetica (no font files needed): A4 pages,
//! wrapped lines, as many pages as the text needs.

use printpdf::{
    BuiltinFont, Mm, Op, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, TextItem,
};

use super::Document;

const LINE_WIDTH_CHARS: usize = 90;
const LINES_PER_PAGE: usize = 52;

/// The built-in fonts cover Latin-1; anything else is replaced rather than rendered wrong.
fn latin1(text: &str) -> String {
    text.chars()
        .map(|c| {
            if (c as u32) < 0x100 && !c.is_control() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_owned();
        while word.chars().count() > width {
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(head);
        }
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

enum Line {
    Title(String),
    Heading(String),
    Body(String),
}

fn page(lines: &[Line]) -> PdfPage {
    let mut ops = vec![
        Op::StartTextSection,
        Op::SetTextCursor {
            pos: Point::new(Mm(20.0), Mm(275.0)),
        },
    ];
    for line in lines {
        let (font, size, text) = match line {
            Line::Title(t) => (BuiltinFont::HelveticaBold, 18.0, t),
            Line::Heading(t) => (BuiltinFont::HelveticaBold, 13.0, t),
            Line::Body(t) => (BuiltinFont::Helvetica, 11.0, t),
        };
        ops.push(Op::SetFont {
            font: PdfFontHandle::Builtin(font),
            size: Pt(size),
        });
        ops.push(Op::SetLineHeight { lh: Pt(size + 4.0) });
        ops.push(Op::ShowText {
            items: vec![TextItem::Text(text.clone())],
        });
        ops.push(Op::AddLineBreak);
    }
    ops.push(Op::EndTextSection);
    PdfPage::new(Mm(210.0), Mm(297.0), ops)
}

pub(super) fn render(doc: &Document) -> Vec<u8> {
    let mut lines = vec![
        Line::Title(latin1(&doc.title)),
        Line::Body(latin1(&doc.subtitle)),
    ];
    for section in &doc.sections {
        lines.push(Line::Body(String::new()));
        lines.push(Line::Heading(latin1(&section.heading)));
        if section.lines.is_empty() {
            lines.push(Line::Body("None.".to_owned()));
        }
        for text in &section.lines {
            for (i, wrapped) in wrap(&latin1(text), LINE_WIDTH_CHARS)
                .into_iter()
                .enumerate()
            {
                let prefix = if i == 0 { "- " } else { "  " };
                lines.push(Line::Body(format!("{prefix}{wrapped}")));
            }
        }
    }
    let pages = lines.chunks(LINES_PER_PAGE).map(page).collect();
    let mut pdf = PdfDocument::new(&latin1(&doc.title));
    let mut warnings = Vec::new();
    pdf.with_pages(pages)
        .save(&PdfSaveOptions::default(), &mut warnings)
}
