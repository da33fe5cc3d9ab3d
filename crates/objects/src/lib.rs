//! S3-compatible object storage for the inputs and results of jobs cut into shards: a scan
//! of `s3://bucket/prefix/`, shard results written to and merged from `s3://…` URLs. Built on
//! the `object_store` crate; the connection is configured the way AWS tools are, from the
//! environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ENDPOINT` (or `AWS_ENDPOINT_URL`) for a store
//! other than Amazon's (MinIO, Ceph, R2 …) and `AWS_ALLOW_HTTP=true` for one without TLS.
//!
//! The calls are blocking: each opens a small single-threaded runtime, since the rest of
//! aisec is synchronous and the objects are few and large.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("{url}: {why}")]
    Url { url: String, why: String },
    #[error("{url}: {source} (the connection comes from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT and AWS_ALLOW_HTTP)")]
    Store {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = ObjectError> = std::result::Result<T, E>;

/// Whether a path as the user wrote it is an object-storage URL.
pub fn is_url(s: &str) -> bool {
    s.starts_with("s3://") || s.starts_with("s3a://")
}

/// `s3://bucket/key`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    pub bucket: String,
    /// Without a leading `/`; empty for the whole bucket.
    pub key: String,
}

impl ObjectUrl {
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("s3://")
            .or_else(|| url.strip_prefix("s3a://"))
            .ok_or_else(|| ObjectError::Url {
                url: url.into(),
                why: "expected s3://BUCKET/KEY".into(),
            })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(ObjectError::Url {
                url: url.into(),
                why: "no bucket: expected s3://BUCKET/KEY".into(),
            });
        }
        if key.split('/').any(|part| part == "." || part == "..") {
            return Err(ObjectError::Url {
                url: url.into(),
                why: "a key with `.` or `..` parts: object keys are names, not relative paths"
                    .into(),
            });
        }
        Ok(ObjectUrl {
            bucket: bucket.into(),
            key: key.into(),
        })
    }

    /// The URL of `key` in this URL's bucket.
    pub fn of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// What a listing found, and the error that stopped it, if one did.
pub struct Listed {
    pub objects: Vec<(String, u64)>,
    pub stopped: Option<ObjectError>,
}

/// A key as a location: the key as it is (`Path::from` would percent-encode it, and the HTTP
/// layer then encodes it again), refused by name when object_store cannot hold it (a `.` or
/// `..` part, an empty part).
fn location(url: &str, key: &str) -> Result<Key> {
    Key::parse(key).map_err(|e| ObjectError::Url {
        url: url.into(),
        why: format!("a key the object_store client cannot address: {e}"),
    })
}

/// Connections to the buckets one command uses.
pub struct Objects {
    runtime: tokio::runtime::Runtime,
    buckets: HashMap<String, AmazonS3>,
}

impl Objects {
    pub fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ObjectError::Io {
                path: "the object-storage runtime".into(),
                source,
            })?;
        Ok(Objects {
            runtime,
            buckets: HashMap::new(),
        })
    }

    fn bucket(&mut self, url: &ObjectUrl, shown: &str) -> Result<AmazonS3> {
        if let Some(b) = self.buckets.get(&url.bucket) {
            return Ok(b.clone());
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&url.bucket);
        // The name most S3-compatible tools use for a custom endpoint.
        if std::env::var_os("AWS_ENDPOINT").is_none() {
            if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
                builder = builder.with_endpoint(endpoint);
            }
        }
        let store = builder.build().map_err(|source| ObjectError::Store {
            url: shown.into(),
            source,
        })?;
        self.buckets.insert(url.bucket.clone(), store.clone());
        Ok(store)
    }

    /// Every object under `url` taken as a folder, as (URL, size), sorted by key; when there
    /// is none, the object `url` names itself. A listing that fails part-way returns what it
    /// listed with the error ([`Listed::stopped`]), so that the caller can report both.
    pub fn list(&mut self, url: &str) -> Result<Vec<(String, u64)>> {
        let listed = self.list_partial(url)?;
        match listed.stopped {
            Some(e) => Err(e),
            None => Ok(listed.objects),
        }
    }

    /// [`Objects::list`], keeping what was listed before an error.
    pub fn list_partial(&mut self, url: &str) -> Result<Listed> {
        let parsed = ObjectUrl::parse(url)?;
        let store = self.bucket(&parsed, url)?;
        let folder = parsed.key.trim_end_matches('/');
        let prefix = match folder {
            "" => None,
            f => Some(location(url, f)?),
        };
        let err = |source| ObjectError::Store {
            url: url.into(),
            source,
        };
        let (mut found, stopped) = self.runtime.block_on(async {
            let mut stream = store.list(prefix.as_ref());
            let mut out = Vec::new();
            while let Some(meta) = stream.next().await {
                match meta {
                    Ok(meta) => out.push((parsed.of(meta.location.as_ref()), meta.size)),
                    Err(e) => return (out, Some(err(e))),
                }
            }
            (out, None)
        });
        if !found.is_empty() || stopped.is_some() || folder.is_empty() || url.ends_with('/') {
            found.sort();
            return Ok(Listed {
                objects: found,
                stopped,
            });
        }
        let meta = self
            .runtime
            .block_on(store.head(&location(url, folder)?))
            .map_err(err)?;
        Ok(Listed {
            objects: vec![(url.to_string(), meta.size)],
            stopped: None,
        })
    }

    pub fn get(&mut self, url: &str) -> Result<Vec<u8>> {
        let parsed = ObjectUrl::parse(url)?;
        let store = self.bucket(&parsed, url)?;
        let err = |source| ObjectError::Store {
            url: url.into(),
            source,
        };
        self.runtime.block_on(async {
            let got = store.get(&location(url, &parsed.key)?).await.map_err(err)?;
            Ok(got.bytes().await.map_err(err)?.to_vec())
        })
    }

    /// Streams the object into a new file at `dest`; returns its size.
    pub fn download(&mut self, url: &str, dest: &Path) -> Result<u64> {
        let parsed = ObjectUrl::parse(url)?;
        let store = self.bucket(&parsed, url)?;
        let io = |source| ObjectError::Io {
            path: dest.to_path_buf(),
            source,
        };
        let err = |source| ObjectError::Store {
            url: url.into(),
            source,
        };
        let mut file = std::io::BufWriter::new(std::fs::File::create(dest).map_err(io)?);
        if parsed.key.ends_with('/') || parsed.key.contains("//") {
            return Err(ObjectError::Url {
                url: url.into(),
                why: "a key with an empty part (a trailing or doubled `/`): the object_store client cannot address it, so its bytes cannot be read".into(),
            });
        }
        let written = self.runtime.block_on(async {
            let got = store
                .get(&location(url, &parsed.key)?)
                .await
                .map_err(|e| match e {
                    object_store::Error::NotFound { .. } => ObjectError::Url {
                        url: url.into(),
                        why: "listed, but not found when read: a key ending in `/` (which the object_store client cannot address: it drops the slash), or an object deleted since it was listed".into(),
                    },
                    e => err(e),
                })?;
            let mut stream = got.into_stream();
            let mut written = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(err)?;
                file.write_all(&chunk).map_err(io)?;
                written += chunk.len() as u64;
            }
            Ok::<_, ObjectError>(written)
        })?;
        file.flush().map_err(io)?;
        Ok(written)
    }

    /// Writes the object whole (a reader sees the old object or the new one, never part).
    pub fn put(&mut self, url: &str, bytes: Vec<u8>) -> Result<()> {
        let parsed = ObjectUrl::parse(url)?;
        if parsed.key.is_empty() || parsed.key.ends_with('/') {
            return Err(ObjectError::Url {
                url: url.into(),
                why: "names a folder; expected the URL of the object to write".into(),
            });
        }
        let store = self.bucket(&parsed, url)?;
        self.runtime
            .block_on(store.put(&location(url, &parsed.key)?, PutPayload::from(bytes)))
            .map_err(|source| ObjectError::Store {
                url: url.into(),
                source,
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_refuse() {
        let u = ObjectUrl::parse("s3://models/org/a.pkl").unwrap();
        assert_eq!(u.bucket, "models");
        assert_eq!(u.key, "org/a.pkl");
        assert_eq!(u.of("x/y"), "s3://models/x/y");
        assert_eq!(ObjectUrl::parse("s3://models").unwrap().key, "");
        for bad in ["s3:///k", "http://x/y", "s3://b/../etc", "s3://b/a/./c"] {
            assert!(ObjectUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(is_url("s3://b/k") && !is_url("/tmp/s3://b"));
    }
}
