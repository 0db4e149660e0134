//! The README's Layout section names every entry of `src/` (`ls src/` and the
//! README agree), and the docs it cites exist.

use std::path::Path;

#[test]
fn readme_layout_lists_every_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("## Layout")
        .expect("README has a Layout section");
    let layout = &readme[start..];
    let layout = layout[3..]
        .find("\n## ")
        .map_or(layout, |end| &layout[..end + 3]);
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("src")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let listed = layout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&format!("src/{name}")));
        if !listed {
            missing.push(name);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "README's Layout section does not list src/{missing:?}"
    );
    assert!(root.join("docs/metrics.md").is_file());
    assert!(root.join("docs/benchmarks.md").is_file());
}
