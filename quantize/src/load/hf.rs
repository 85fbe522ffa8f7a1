//! HF model folders: config.json plus one or sharded safetensors files.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::LlamaConfig;
use crate::error::LoadError;
use crate::load::safetensors::SafetensorsFile;
use crate::load::{check_shape, WeightSource};
use crate::names::{LayerTensor, TensorId};
use crate::tensor::Tensor;

/// The single-file weights of an HF folder.
const SINGLE_FILE: &str = "model.safetensors";
/// The index of sharded weights of an HF folder.
const INDEX_FILE: &str = "model.safetensors.index.json";

/// An HF transformers model folder (`config.json` and `model.safetensors`, or shards listed
/// in `model.safetensors.index.json`), read lazily one tensor at a time.
#[derive(Debug)]
pub struct HfModel {
    dir: PathBuf,
    config: LlamaConfig,
    /// `model.safetensors` or the index file: what errors about the set of tensors name.
    weights: PathBuf,
    files: Vec<SafetensorsFile>,
    /// Tensor name → index into `files`.
    location: HashMap<String, usize>,
}

/// The part of `model.safetensors.index.json` that is read; `metadata` is ignored.
#[derive(Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

impl HfModel {
    /// Opens the folder `dir`: reads and validates `config.json`, maps and validates every
    /// safetensors file, and checks that each tensor the config needs is present, readable
    /// as f32 and of the shape the config implies. `model.safetensors` is used when both it
    /// and an index are present.
    pub fn open(dir: &Path) -> Result<Self, LoadError> {
        let config = LlamaConfig::from_hf_json(&dir.join("config.json"))?;
        let single = dir.join(SINGLE_FILE);
        let index = dir.join(INDEX_FILE);
        let (weights, files, location) = if single.is_file() {
            let file = SafetensorsFile::open(&single)?;
            let location = file.names().map(|n| (n.to_string(), 0)).collect();
            (single, vec![file], location)
        } else if index.is_file() {
            let (files, location) = open_shards(dir, &index)?;
            (index, files, location)
        } else {
            return Err(LoadError::format(dir, format!("neither {SINGLE_FILE} nor {INDEX_FILE} is here")));
        };
        let model = HfModel { dir: dir.to_path_buf(), config, weights, files, location };
        model.check_complete()?;
        Ok(model)
    }

    /// The tensors the config needs, in file order: the embedding, each block's tensors, the
    /// final norm, and `lm_head` unless it is tied to the embedding.
    pub fn required_tensors(config: &LlamaConfig) -> Vec<TensorId> {
        let mut ids = vec![TensorId::Embedding];
        for l in 0..config.num_hidden_layers {
            ids.extend(LayerTensor::ALL.iter().map(|&t| TensorId::Layer(l, t)));
        }
        ids.push(TensorId::FinalNorm);
        if !config.tie_word_embeddings {
            ids.push(TensorId::LmHead);
        }
        ids
    }

    /// Fails with the first required tensor that is missing, unreadable or misshapen.
    fn check_complete(&self) -> Result<(), LoadError> {
        for id in Self::required_tensors(&self.config) {
            let name = id.hf_name();
            let file = self.file_of(&name)?;
            let info = file.info(&name).ok_or_else(|| LoadError::MissingTensor {
                path: file.path().to_path_buf(),
                tensor: name.clone(),
            })?;
            if !info.dtype.reads_as_f32() {
                return Err(LoadError::UnsupportedDtype {
                    path: file.path().to_path_buf(),
                    tensor: name,
                    dtype: info.dtype.name().to_string(),
                });
            }
            check_shape(file.path(), &name, id, &self.config, &info.shape)?;
        }
        Ok(())
    }

    /// The file holding tensor `name`.
    fn file_of(&self, name: &str) -> Result<&SafetensorsFile, LoadError> {
        self.location
            .get(name)
            .and_then(|&i| self.files.get(i))
            .ok_or_else(|| LoadError::MissingTensor { path: self.weights.clone(), tensor: name.to_string() })
    }
}

/// Opens each shard the index at `index` names once, and checks that every tensor the index
/// places in a shard is there.
fn open_shards(
    dir: &Path,
    index: &Path,
) -> Result<(Vec<SafetensorsFile>, HashMap<String, usize>), LoadError> {
    let text = std::fs::read_to_string(index).map_err(|e| LoadError::io(index, e))?;
    let parsed: ShardIndex =
        serde_json::from_str(&text).map_err(|e| LoadError::format(index, format!("malformed index: {e}")))?;
    let mut shard_ids: HashMap<&str, usize> = HashMap::new();
    let mut files: Vec<SafetensorsFile> = Vec::new();
    let mut location = HashMap::with_capacity(parsed.weight_map.len());
    for (name, shard) in &parsed.weight_map {
        let i = match shard_ids.get(shard.as_str()) {
            Some(&i) => i,
            None => {
                // Shards are plain file names beside the index: no directories, no `..`.
                if Path::new(shard).file_name().and_then(|f| f.to_str()) != Some(shard.as_str()) {
                    return Err(LoadError::format(
                        index,
                        format!("shard `{shard}` is not a plain file name"),
                    ));
                }
                files.push(SafetensorsFile::open(&dir.join(shard))?);
                shard_ids.insert(shard, files.len() - 1);
                files.len() - 1
            }
        };
        let has = files.get(i).and_then(|f| f.info(name)).is_some();
        if !has {
            return Err(LoadError::tensor(
                dir.join(shard),
                name.as_str(),
                format!("{INDEX_FILE} places this tensor here but the shard lacks it"),
            ));
        }
        location.insert(name.clone(), i);
    }
    Ok((files, location))
}

impl WeightSource for HfModel {
    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn path(&self) -> &Path {
        &self.dir
    }

    fn load(&self, id: TensorId) -> Result<Tensor, LoadError> {
        let stored = match id {
            TensorId::LmHead if self.config.tie_word_embeddings => TensorId::Embedding,
            other => other,
        };
        let name = stored.hf_name();
        let file = self.file_of(&name)?;
        let info = file.info(&name).ok_or_else(|| LoadError::MissingTensor {
            path: file.path().to_path_buf(),
            tensor: name.clone(),
        })?;
        check_shape(file.path(), &name, id, &self.config, &info.shape)?;
        file.read_f32(&name)
    }
}
