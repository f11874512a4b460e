//! Marked regions of a Markdown file that a tool rewrites and nothing else touches:
//! `<!-- NAME:begin -->` … `<!-- NAME:end -->` (RELIABILITY.md has one per tool).

use std::path::Path;

use anyhow::{Context, Result};

/// `document` with the text between the `name` markers replaced by `section`, or `None`
/// when the markers are missing or out of order.
pub fn replace(document: &str, name: &str, section: &str) -> Option<String> {
    let (begin, end) = (format!("<!-- {name}:begin -->"), format!("<!-- {name}:end -->"));
    let start = document.find(&begin)? + begin.len();
    let stop = start + document[start..].find(&end)?;
    Some(format!("{}\n{}{}", &document[..start], section, &document[stop..]))
}

/// Rewrites the `name` region of the file at `path` with `section`; fails, writing
/// nothing, when the file lacks the region.
pub fn rewrite(path: &Path, name: &str, section: &str) -> Result<()> {
    let document = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let updated = replace(&document, name, section)
        .with_context(|| format!("{} has no <!-- {name}:begin --> … <!-- {name}:end --> region", path.display()))?;
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_region_is_replaced() {
        let document = "a\n<!-- soak:begin -->\nold\n<!-- soak:end -->\n<!-- fuzz:begin -->\nf\n<!-- fuzz:end -->\n";
        let replaced = replace(document, "soak", "new\n").unwrap();
        assert_eq!(
            replaced,
            "a\n<!-- soak:begin -->\nnew\n<!-- soak:end -->\n<!-- fuzz:begin -->\nf\n<!-- fuzz:end -->\n"
        );
        assert_eq!(replace(&replaced, "soak", "new\n").unwrap(), replaced, "idempotent");
        assert_eq!(replace(document, "chaos", "x"), None);
        assert_eq!(replace("<!-- x:end --><!-- x:begin -->", "x", "y"), None, "markers out of order");
    }

    #[test]
    fn a_file_without_the_region_is_left_alone() {
        let path = std::env::temp_dir().join(format!("region-none-{}.md", std::process::id()));
        std::fs::write(&path, "# R\n").unwrap();
        assert!(rewrite(&path, "chaos", "x").is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# R\n");
        std::fs::remove_file(&path).unwrap();
    }
}
