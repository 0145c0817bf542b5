//! The model repository on disk and the set of loaded models.
//!
//! Layout (TF Serving / Triton style): `<root>/<name>/<version>/model.json`,
//! where `<name>` is `[A-Za-z0-9_-]+` and `<version>` is a positive integer,
//! plus an optional `<root>/repository.toml`:
//!
//! ```toml
//! default_model = "x_education"   # model for requests that name none
//! keep_versions = 3               # newest versions kept loaded per model
//!
//! [labels.x_education]            # version labels a request may use
//! stable = 1
//! canary = 2
//! ```
//!
//! [`ModelRepository::scan`] builds a new [`ModelRegistry`] from the files,
//! given the registry that serves now: unchanged artifacts (same bytes) are
//! reused as they are; a new or changed artifact is parsed and validated
//! before it can serve; a broken artifact is refused with a message naming
//! the file and the problem, and if that version was serving, the loaded copy
//! keeps serving (availability first). Request-supplied names, versions and
//! labels are only ever looked up in the in-memory maps built here; they
//! never become filesystem paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use crate::scoring::model::ARTIFACT_FILE;
use crate::scoring::model::{ModelArtifact, ScoringModel};

/// Optional repository configuration file at the root.
pub const REPOSITORY_CONFIG_FILE: &str = "repository.toml";

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
    /// sha256 of the artifact bytes, to tell an unchanged file from a new one.
    pub sha256: [u8; 32],
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
    /// The model exists but not that version or label.
    #[error("model \"{model}\" has no loaded version or label \"{version}\"")]
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

/// `repository.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// Model for requests that name none.
    pub default_model: Option<String>,
    /// Newest versions kept loaded per model (labelled versions are kept too).
    pub keep_versions: Option<usize>,
    /// Per model: label → version.
    #[serde(default)]
    pub labels: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Where models live and how many versions to keep.
#[derive(Debug, Clone)]
pub struct ModelRepository {
    /// Root directory.
    pub root: PathBuf,
    /// Default model from the command line (wins over `repository.toml`).
    pub default_model: Option<String>,
    /// Newest versions kept loaded per model unless `repository.toml` says otherwise.
    pub keep_versions: usize,
}

/// Result of a scan: the registry to serve and what happened.
#[derive(Debug)]
pub struct RepositoryScan {
    /// The models to serve.
    pub registry: ModelRegistry,
    /// One entry per refused artifact, ignored directory or config problem.
    pub refused: Vec<String>,
    /// Versions newly loaded (or reloaded because their bytes changed).
    pub loaded: Vec<(String, u64)>,
    /// Versions no longer served.
    pub unloaded: Vec<(String, u64)>,
}

/// All loaded models, by name then version.
#[derive(Debug, Default)]
pub struct ModelRegistry {
    models: BTreeMap<String, BTreeMap<u64, Arc<LoadedModel>>>,
    labels: BTreeMap<String, BTreeMap<String, u64>>,
    default_model: Option<String>,
}

impl ModelRepository {
    /// A repository at `root` with default settings (keep 3 versions).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            default_model: None,
            keep_versions: 3,
        }
    }

    /// Scans the repository, reusing unchanged versions of `current`.
    ///
    /// # Errors
    /// [`RepositoryError`] when the root itself cannot be read; the caller
    /// keeps serving `current` then. Broken artifacts are reported in
    /// [`RepositoryScan::refused`], not as errors.
    pub fn scan(&self, current: &ModelRegistry) -> Result<RepositoryScan, RepositoryError> {
        let root = &self.root;
        let root_err = |source| RepositoryError::Root {
            path: root.display().to_string(),
            source,
        };
        let mut refused = Vec::new();
        let mut loaded = Vec::new();
        let config = self.read_config(&mut refused);
        let keep = config.keep_versions.unwrap_or(self.keep_versions).max(1);

        let mut names: Vec<_> = std::fs::read_dir(root)
            .map_err(root_err)?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .collect();
        names.sort_by_key(|e| e.file_name());

        let mut models: BTreeMap<String, BTreeMap<u64, Arc<LoadedModel>>> = BTreeMap::new();
        for name_entry in names {
            let Some(name) = name_entry.file_name().to_str().map(str::to_string) else {
                refused.push(format!(
                    "{}: model directory name is not UTF-8",
                    name_entry.path().display()
                ));
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if !is_valid_model_name(&name) {
                refused.push(format!(
                    "{}: model names may only hold letters, digits, '-' and '_'",
                    name_entry.path().display()
                ));
                continue;
            }
            let Ok(entries) = std::fs::read_dir(name_entry.path()) else {
                refused.push(format!("{}: unreadable", name_entry.path().display()));
                continue;
            };
            let mut candidates = Vec::new();
            for version_entry in entries.filter_map(Result::ok) {
                let path = version_entry.path();
                let file_name = version_entry.file_name();
                let file_name = file_name.to_string_lossy();
                // Hidden entries are work in progress (e.g. a directory being
                // written before it is renamed into place).
                if !path.is_dir() || file_name.starts_with('.') {
                    continue;
                }
                let Some(version) = file_name.parse::<u64>().ok().filter(|v| *v > 0) else {
                    refused.push(format!(
                        "{}: version directories must be positive integers",
                        path.display()
                    ));
                    continue;
                };
                candidates.push((version, path));
            }
            // Newest first; stop reading once `keep` versions are loaded, so a
            // scan costs the same however many old versions stay on disk.
            // Labelled versions are loaded whatever their age.
            candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
            let pinned: BTreeSet<u64> = config
                .labels
                .get(&name)
                .map(|l| l.values().copied().collect())
                .unwrap_or_default();
            let mut versions = BTreeMap::new();
            for (version, path) in candidates {
                let unpinned_loaded = versions.keys().filter(|v| !pinned.contains(v)).count();
                if unpinned_loaded >= keep && !pinned.contains(&version) {
                    continue;
                }
                let artifact_path = path.join(ARTIFACT_FILE);
                let previous = current.models.get(&name).and_then(|v| v.get(&version));
                let bytes = match std::fs::read(&artifact_path) {
                    Ok(bytes) => bytes,
                    // A version directory without its artifact yet is being
                    // published; it is not an error.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        if let Some(previous) = previous {
                            versions.insert(version, previous.clone());
                        }
                        continue;
                    }
                    Err(e) => {
                        refused.push(format!("cannot read {}: {e}", artifact_path.display()));
                        if let Some(previous) = previous {
                            versions.insert(version, previous.clone());
                        }
                        continue;
                    }
                };
                let sha256: [u8; 32] = Sha256::digest(&bytes).into();
                if let Some(previous) = previous.filter(|p| p.sha256 == sha256) {
                    versions.insert(version, previous.clone());
                    continue;
                }
                match ModelArtifact::from_json(&bytes, &artifact_path.display().to_string()) {
                    Ok(model) => {
                        loaded.push((name.clone(), version));
                        versions.insert(
                            version,
                            Arc::new(LoadedModel {
                                name: name.clone(),
                                version,
                                model,
                                loaded_at: SystemTime::now(),
                                path: artifact_path,
                                sha256,
                            }),
                        );
                    }
                    Err(err) => {
                        let keep_note = if previous.is_some() {
                            "; the loaded copy keeps serving"
                        } else {
                            ""
                        };
                        refused.push(format!("{err}{keep_note}"));
                        if let Some(previous) = previous {
                            versions.insert(version, previous.clone());
                        }
                    }
                }
            }
            if !versions.is_empty() {
                models.insert(name, versions);
            }
        }

        // Labels: only those naming a loaded version count.
        let mut labels: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (model, model_labels) in &config.labels {
            for (label, version) in model_labels {
                if label.is_empty() || label.parse::<u64>().is_ok() {
                    refused.push(format!(
                        "{REPOSITORY_CONFIG_FILE}: label \"{label}\" of model \"{model}\" must be a non-numeric name"
                    ));
                } else if models.get(model).is_some_and(|v| v.contains_key(version)) {
                    labels
                        .entry(model.clone())
                        .or_default()
                        .insert(label.clone(), *version);
                } else {
                    refused.push(format!(
                        "{REPOSITORY_CONFIG_FILE}: label \"{label}\" names {model} version {version}, which is not loaded"
                    ));
                }
            }
        }

        // Keep the newest `keep` versions of each model, and every labelled one.
        for (name, versions) in models.iter_mut() {
            let pinned: BTreeSet<u64> = labels
                .get(name)
                .map(|l| l.values().copied().collect())
                .unwrap_or_default();
            let newest: BTreeSet<u64> = versions.keys().rev().take(keep).copied().collect();
            versions.retain(|v, _| newest.contains(v) || pinned.contains(v));
        }
        loaded.retain(|(n, v)| models.get(n).is_some_and(|m| m.contains_key(v)));

        let unloaded = current
            .all()
            .filter(|m| {
                models
                    .get(&m.name)
                    .and_then(|v| v.get(&m.version))
                    .is_none()
            })
            .map(|m| (m.name.clone(), m.version))
            .collect();

        let wanted_default = self.default_model.clone().or(config.default_model);
        let default_model = match wanted_default {
            Some(d) if models.contains_key(&d) => Some(d),
            Some(d) => {
                refused.push(format!(
                    "default model \"{d}\" is not loaded; using the first loaded model instead"
                ));
                models.keys().next().cloned()
            }
            None => models.keys().next().cloned(),
        };
        Ok(RepositoryScan {
            registry: ModelRegistry {
                models,
                labels,
                default_model,
            },
            refused,
            loaded,
            unloaded,
        })
    }

    fn read_config(&self, refused: &mut Vec<String>) -> RepositoryConfig {
        let path = self.root.join(REPOSITORY_CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).unwrap_or_else(|e| {
                refused.push(format!("{}: {e}; ignoring it", path.display()));
                RepositoryConfig::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RepositoryConfig::default(),
            Err(e) => {
                refused.push(format!("cannot read {}: {e}; ignoring it", path.display()));
                RepositoryConfig::default()
            }
        }
    }
}

impl ModelRegistry {
    /// Scans `root` from scratch with default settings (see [`ModelRepository::scan`]).
    ///
    /// # Errors
    /// [`RepositoryError`] when `root` itself cannot be read.
    pub fn load_dir(
        root: &Path,
        default_model: Option<&str>,
    ) -> Result<RepositoryScan, RepositoryError> {
        let mut repository = ModelRepository::new(root);
        repository.default_model = default_model.map(str::to_string);
        repository.scan(&ModelRegistry::default())
    }

    /// True when no model is loaded.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Number of loaded versions across all models.
    pub fn len(&self) -> usize {
        self.models.values().map(BTreeMap::len).sum()
    }

    /// Name used when a request leaves the model empty.
    pub fn default_model(&self) -> Option<&str> {
        self.default_model.as_deref()
    }

    /// Resolves a request's model and version ("" = default / newest; a
    /// version may also be a label from `repository.toml`).
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
            version
                .parse::<u64>()
                .ok()
                .or_else(|| self.labels.get(name).and_then(|l| l.get(version)).copied())
                .and_then(|v| versions.get(&v))
        };
        found.cloned().ok_or_else(|| LookupError::VersionNotFound {
            model: name.to_string(),
            version: version.to_string(),
        })
    }

    /// Labels that point at a version.
    pub fn labels_of(&self, model: &str, version: u64) -> Vec<String> {
        self.labels
            .get(model)
            .map(|l| {
                l.iter()
                    .filter(|(_, v)| **v == version)
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
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
