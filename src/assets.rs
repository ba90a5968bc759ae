//! The files the binary carries: its default templates and feed list, so that `relais` runs
//! from any folder and after `cargo install`. An operator's templates folder overrides them
//! file by file: a file found there wins, every other one comes from the binary.

use std::path::{Path, PathBuf};

use anyhow::Context;
use include_dir::{include_dir, Dir};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The feed list shipped with the binary, used when no `sources.toml` is found.
pub const DEFAULT_SOURCES: &str = include_str!("../sources.toml");

/// Where templates are read from: the operator's folder first (when there is one), then the
/// copies built into the binary.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    overrides: Option<PathBuf>,
}

impl Templates {
    /// Only the templates built into the binary.
    pub fn embedded() -> Self {
        Self { overrides: None }
    }

    /// `dir`'s files override the built-in ones. A folder the operator named must exist; the
    /// default folder (`templates` in the working directory) is used only when present.
    pub fn with_overrides(dir: &Path, named_by_operator: bool) -> anyhow::Result<Self> {
        if dir.is_dir() {
            return Ok(Self {
                overrides: Some(dir.to_path_buf()),
            });
        }
        anyhow::ensure!(
            !named_by_operator,
            "templates_dir: {} is not a folder (leave the setting out to use the templates built into relais)",
            dir.display()
        );
        Ok(Self::embedded())
    }

    /// The text of `relative` (e.g. `web/home.html.hbs`) and where it came from, for error
    /// messages: the operator's file path, or `relative` marked as built in.
    pub fn read(&self, relative: &str) -> anyhow::Result<(String, String)> {
        if let Some(dir) = &self.overrides {
            let path = dir.join(relative);
            if path.is_file() {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                return Ok((normalise(text), path.display().to_string()));
            }
        }
        let file = TEMPLATES.get_file(relative).with_context(|| {
            format!("no template {relative} in relais or in the templates folder")
        })?;
        let text = file
            .contents_utf8()
            .with_context(|| format!("built-in template {relative} is not UTF-8"))?;
        Ok((
            normalise(text.to_string()),
            format!("{relative} (built in)"),
        ))
    }

    /// The names of the files in `folder` ending in `suffix` (suffix removed), built-in and
    /// overriding ones together, sorted.
    pub fn names(&self, folder: &str, suffix: &str) -> anyhow::Result<Vec<String>> {
        let mut names: Vec<String> = TEMPLATES
            .get_dir(folder)
            .map(|d| {
                d.files()
                    .filter_map(|f| f.path().file_name()?.to_str()?.strip_suffix(suffix))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(dir) = &self.overrides {
            let path = dir.join(folder);
            if path.is_dir() {
                for entry in std::fs::read_dir(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                {
                    let entry = entry?;
                    if let Some(name) = entry
                        .file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(suffix))
                    {
                        names.push(name.to_string());
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// mrml fails on CRLF inside mj-head: line ends are normalised before anything sees the text.
fn normalise(text: String) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_file_overrides_its_built_in_copy_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("web")).unwrap();
        std::fs::write(dir.path().join("web/site.css"), "body{}\r\n").unwrap();
        let t = Templates::with_overrides(dir.path(), true).unwrap();
        let (css, origin) = t.read("web/site.css").unwrap();
        assert_eq!(css, "body{}\n");
        assert!(origin.ends_with("web/site.css") && !origin.contains("built in"));
        let (home, origin) = t.read("web/home.html.hbs").unwrap();
        assert!(home.contains("form"), "{home}");
        assert_eq!(origin, "web/home.html.hbs (built in)");
        assert!(t
            .names("partials", ".mjml.hbs")
            .unwrap()
            .contains(&"footer".to_string()));
    }

    #[test]
    fn a_named_templates_folder_must_exist_the_default_one_need_not() {
        let missing = Path::new("/nonexistent/relais-templates");
        assert!(Templates::with_overrides(missing, true).is_err());
        assert!(Templates::with_overrides(missing, false).is_ok());
        assert!(DEFAULT_SOURCES.contains("[[source]]"));
    }
}
