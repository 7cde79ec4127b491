//! Where backups go: a folder or S3 (`object_store`), and its objects.

use super::*;

/// Where backups go: a folder, or `s3://bucket/prefix` (credentials and endpoint from the
/// usual `AWS_*` variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
/// `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`).
#[derive(Clone)]
pub struct Target {
    store: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    pub display: String,
}

impl Target {
    pub fn parse(spec: &str) -> Result<Target> {
        let bad = |why: String| BackupError::Target {
            target: spec.to_owned(),
            why,
        };
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("name a bucket: s3://bucket/prefix".into()));
            }
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            return Ok(Target {
                store: Arc::new(s3),
                prefix: ObjPath::from(prefix.trim_matches('/')),
                display: spec.to_owned(),
            });
        }
        if spec.contains("://") {
            return Err(bad("use a folder or s3://bucket/prefix".into()));
        }
        std::fs::create_dir_all(spec).map_err(|e| bad(e.to_string()))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(spec)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Target {
            store: Arc::new(fs),
            prefix: ObjPath::from(""),
            display: spec.to_owned(),
        })
    }

    pub(crate) fn path(&self, rel: &str) -> ObjPath {
        if self.prefix.as_ref().is_empty() {
            ObjPath::from(rel)
        } else {
            ObjPath::from(format!("{}/{rel}", self.prefix.as_ref()))
        }
    }

    pub(crate) fn err(&self, rel: &str, e: impl std::fmt::Display) -> BackupError {
        BackupError::Object {
            object: format!("{}/{rel}", self.display.trim_end_matches('/')),
            why: e.to_string(),
        }
    }

    pub(crate) async fn get(&self, rel: &str) -> Result<Vec<u8>> {
        let r = self
            .store
            .get(&self.path(rel))
            .await
            .map_err(|e| self.err(rel, e))?;
        Ok(r.bytes().await.map_err(|e| self.err(rel, e))?.to_vec())
    }

    pub(crate) async fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&self.path(rel), PutPayload::from(bytes))
            .await
            .map_err(|e| self.err(rel, e))?;
        Ok(())
    }

    pub(crate) async fn delete(&self, rel: &str) -> Result<()> {
        self.store
            .delete(&self.path(rel))
            .await
            .map_err(|e| self.err(rel, e))
    }

    pub(crate) async fn exists(&self, rel: &str) -> Result<bool> {
        match self.store.head(&self.path(rel)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err(rel, e)),
        }
    }

    /// Every manifest, oldest first (ids are ULIDs).
    pub async fn manifests(&self) -> Result<Vec<Manifest>> {
        use futures::StreamExt;
        let mut names = vec![];
        let mut list = self.store.list(Some(&self.path("manifests")));
        while let Some(m) = list.next().await {
            let m = m.map_err(|e| self.err("manifests", e))?;
            if let Some(name) = m.location.filename().filter(|n| n.ends_with(".json")) {
                names.push(name.to_owned());
            }
        }
        names.sort();
        let mut out = vec![];
        for n in names {
            let bytes = self.get(&format!("manifests/{n}")).await?;
            let m: Manifest =
                serde_json::from_slice(&bytes).map_err(|e| BackupError::Manifest {
                    id: n.clone(),
                    why: e.to_string(),
                })?;
            if m.format != FORMAT {
                return Err(BackupError::Manifest {
                    id: n,
                    why: format!("format `{}`; this program reads {FORMAT}", m.format),
                });
            }
            let mut m = m;
            m.object_name = Some(n);
            out.push(m);
        }
        Ok(out)
    }
}
