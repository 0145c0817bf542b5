//! The model repository on disk and the set of loaded models.
//!
//! Layout (TF Serving / Triton style): `<root>/<name>/<version>/model.json`,
//! where `<name>` is `[A-Za-z0-9_-]+` and `<version>` is a positive integer.
//! The newest *valid* version of each name serves unless a request pins one;
//! a broken artifact is refused with a message naming the file and the
//! problem, and never replaces a valid one.
//!
//! Request-supplied names and versions are only ever looked up in the
//! in-memory map built here; they never become filesystem paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::model::{ArtifactError, ModelArtifact, ScoringModel};

/// File name of an artifact inside a version directory.
pub const ARTIFACT_FILE: &str = "model.json";

/// One loaded model version.
#[derive(Debug)]
pub struct LoadedModel {
    /// Model name (directory name).
    pub name: String,
    /// Version number (directory name).
    pub version: u64,
    /// The validated model.
    pub model: ScoringModel,
    /// When this process loaded it.
    pub loaded_at: SystemTime,
    /// Artifact path.
    pub path: PathBuf,
}

/// Why a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No model is loaded at all.
    #[error("no model is loaded")]
    NoModelLoaded,
    /// No model of that name.
    #[error("model \"{model}\" is not loaded")]
    ModelNotFound {
        /// Requested name.
        model: String,
    },
    /// The model exists but not that version.
    #[error("model \"{model}\" has no loaded version \"{version}\"")]
    VersionNotFound {
        /// Model name.
        model: String,
        /// Requested version.
        version: String,
    },
}

/// Why a model repository could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The root directory is missing or unreadable.
    #[error("cannot read model repository {path}: {source}")]
    Root {
        /// Root path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Result of scanning a repository: what loaded, and what was refused.
#[derive(Debug)]
pub struct RepositoryScan {
    /// The loaded models.
    pub registry: ModelRegistry,
    /// One entry per refused artifact or ignored directory.
    pub refused: Vec<String>,
}

/// All loaded models, by name then version.
#[derive(Debug, Default)]
pub struct ModelRegistry {
    models: BTreeMap<String, BTreeMap<u64, Arc<LoadedModel>>>,
    default_model: Option<String>,
}

impl ModelRegistry {
    /// Scans `root` and loads every valid `<name>/<version>/model.json`.
    ///
    /// The default model is `default_model` when given and loaded, else the
    /// first name in alphabetical order.
    ///
    /// # Errors
    /// [`RepositoryError`] when `root` itself cannot be read; broken artifacts
    /// are reported in [`RepositoryScan::refused`], not as errors.
    pub fn load_dir(
        root: &Path,
        default_model: Option<&str>,
    ) -> Result<RepositoryScan, RepositoryError> {
        let root_err = |source| RepositoryError::Root {
            path: root.display().to_string(),
            source,
        };
        let mut registry = ModelRegistry::default();
        let mut refused = Vec::new();
        let mut names: Vec<_> = std::fs::read_dir(root)
            .map_err(root_err)?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .collect();
        names.sort_by_key(|e| e.file_name());
        for name_entry in names {
            let Some(name) = name_entry.file_name().to_str().map(str::to_string) else {
                refused.push(format!(
                    "{}: model directory name is not UTF-8",
                    name_entry.path().display()
                ));
                continue;
            };
            if !is_valid_model_name(&name) {
                refused.push(format!(
                    "{}: model names may only hold letters, digits, '-' and '_'",
                    name_entry.path().display()
                ));
                continue;
            }
            let Ok(versions) = std::fs::read_dir(name_entry.path()) else {
                refused.push(format!("{}: unreadable", name_entry.path().display()));
                continue;
            };
            for version_entry in versions.filter_map(Result::ok) {
                let path = version_entry.path();
                if !path.is_dir() {
                    continue;
                }
                let Some(version) = version_entry
                    .file_name()
                    .to_str()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|v| *v > 0)
                else {
                    refused.push(format!(
                        "{}: version directories must be positive integers",
                        path.display()
                    ));
                    continue;
                };
                let artifact_path = path.join(ARTIFACT_FILE);
                match ModelArtifact::read(&artifact_path) {
                    Ok(model) => registry.insert(LoadedModel {
                        name: name.clone(),
                        version,
                        model,
                        loaded_at: SystemTime::now(),
                        path: artifact_path,
                    }),
                    Err(err @ ArtifactError::Io { .. })
                    | Err(err @ ArtifactError::Parse { .. })
                    | Err(err @ ArtifactError::Invalid { .. }) => refused.push(err.to_string()),
                }
            }
        }
        registry.default_model = match default_model {
            Some(d) if registry.models.contains_key(d) => Some(d.to_string()),
            Some(d) => {
                refused.push(format!(
                    "default model \"{d}\" is not loaded; using the first loaded model instead"
                ));
                registry.models.keys().next().cloned()
            }
            None => registry.models.keys().next().cloned(),
        };
        Ok(RepositoryScan { registry, refused })
    }

    /// Adds a loaded version (replacing the same name and version).
    pub fn insert(&mut self, loaded: LoadedModel) {
        if self.default_model.is_none() {
            self.default_model = Some(loaded.name.clone());
        }
        self.models
            .entry(loaded.name.clone())
            .or_default()
            .insert(loaded.version, Arc::new(loaded));
    }

    /// True when no model is loaded.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Name used when a request leaves the model empty.
    pub fn default_model(&self) -> Option<&str> {
        self.default_model.as_deref()
    }

    /// Resolves a request's model and version ("" = default / newest).
    ///
    /// # Errors
    /// [`LookupError`] when nothing matches.
    pub fn get(&self, model: &str, version: &str) -> Result<Arc<LoadedModel>, LookupError> {
        let name = if model.is_empty() {
            self.default_model
                .as_deref()
                .ok_or(LookupError::NoModelLoaded)?
        } else {
            model
        };
        let versions = self
            .models
            .get(name)
            .ok_or_else(|| LookupError::ModelNotFound {
                model: name.to_string(),
            })?;
        let found = if version.is_empty() {
            versions.values().next_back()
        } else {
            version.parse::<u64>().ok().and_then(|v| versions.get(&v))
        };
        found.cloned().ok_or_else(|| LookupError::VersionNotFound {
            model: name.to_string(),
            version: version.to_string(),
        })
    }

    /// Every loaded version, by name then version.
    pub fn all(&self) -> impl Iterator<Item = &Arc<LoadedModel>> {
        self.models.values().flat_map(|v| v.values())
    }
}

/// Model names are plain identifiers, so they are safe as directory names.
pub fn is_valid_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
