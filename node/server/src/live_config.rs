//! The configuration from PostgreSQL: the live version of every unit and
//! its prompts, written into a cache folder in the layout of a units
//! folder and loaded from there with the same loader as files.
//!
//! The cache is what makes the node independent of PostgreSQL while it
//! serves: at start, a node that cannot reach PostgreSQL serves what it
//! last read; while running, a lost connection changes nothing until it
//! comes back. A new live version is notified (`cc_config`, see the
//! schema) and reloaded at once; calls in progress keep the unit they
//! started with.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cc_store::Store;

use crate::node::Node;
use crate::units::Directory;

/// How long a lost PostgreSQL is waited for before trying again.
const RECONNECT: Duration = Duration::from_secs(5);
/// Notifications within this window are one reload.
const SETTLE: Duration = Duration::from_millis(200);

/// Writes the live configuration into `cache` (replacing it whole);
/// returns how many units it holds.
pub async fn export(store: &Store, cache: &Path) -> Result<usize, String> {
    let client = store.client().await.map_err(|e| e.to_string())?;
    let documents = cc_store::units::live_documents(&**client)
        .await
        .map_err(|e| e.to_string())?;
    let audio = cc_store::prompts::live_audio(&**client)
        .await
        .map_err(|e| e.to_string())?;
    let university = cc_store::units::university_calendar(&**client)
        .await
        .map_err(|e| e.to_string())?;
    let mut approved = serde_json::Map::new();
    for (unit, _) in &documents {
        if let Some((scope, _)) = cc_store::units::approved(&**client, unit)
            .await
            .map_err(|e| e.to_string())?
        {
            approved.insert(unit.clone(), scope);
        }
    }
    drop(client);

    let fresh = sibling(cache, "new");
    let _ = std::fs::remove_dir_all(&fresh);
    std::fs::create_dir_all(&fresh).map_err(|e| format!("{}: {e}", fresh.display()))?;
    let write = |path: PathBuf, bytes: &[u8]| -> Result<(), String> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    if let Some(calendar) = university {
        let yaml = serde_norway::to_string(&calendar).map_err(|e| e.to_string())?;
        write(fresh.join("_university.yaml"), yaml.as_bytes())?;
    }
    write(
        fresh.join(crate::units::APPROVED_FILE),
        serde_json::Value::Object(approved).to_string().as_bytes(),
    )?;
    for (unit, yaml) in &documents {
        write(fresh.join(format!("{unit}.yaml")), yaml.as_bytes())?;
        // The document names each prompt's file; the database keeps the
        // audio by prompt name.
        let files = serde_norway::from_str::<cc_flow::UnitDocument>(yaml)
            .map(|d| d.prompts)
            .unwrap_or_default();
        for (name, file) in files {
            if let Some((_, _, wav)) = audio.iter().find(|(u, n, _)| u == unit && *n == name) {
                write(fresh.join("prompts").join(unit).join(&file), wav)?;
            }
        }
    }
    let old = sibling(cache, "old");
    let _ = std::fs::remove_dir_all(&old);
    if cache.exists() {
        std::fs::rename(cache, &old).map_err(|e| format!("{}: {e}", cache.display()))?;
    }
    std::fs::rename(&fresh, cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(documents.len())
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}

/// The units to start with: fresh from PostgreSQL when it answers, else
/// the cache from last time.
pub async fn initial(store: &Store, cache: &Path) -> Result<Directory, String> {
    match store.migrate().await {
        Ok(applied) if !applied.is_empty() => tracing::info!(?applied, "schema migrated"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot migrate the schema now"),
    }
    match export(store, cache).await {
        Ok(units) => tracing::info!(units, "configuration read from PostgreSQL"),
        Err(e) => {
            tracing::warn!(error = %e, cache = %cache.display(), "PostgreSQL unavailable: serving the cached configuration")
        }
    }
    if !cache.exists() {
        std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    }
    let (directory, errors) = Directory::load_each(cache)?;
    for error in errors {
        tracing::error!("unit not served: {error}");
    }
    Ok(directory)
}

/// Follows new live versions for as long as the node runs.
pub async fn follow(node: Arc<Node>, store: Store, cache: PathBuf) {
    loop {
        let mut listener = match store.listen("cc_config").await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "configuration notifications");
                tokio::time::sleep(RECONNECT).await;
                continue;
            }
        };
        // Whatever went live while nobody listened.
        reload(&node, &store, &cache).await;
        while let Some(unit) = listener.next().await {
            tracing::info!(unit, "a new version went live");
            tokio::time::sleep(SETTLE).await;
            reload(&node, &store, &cache).await;
        }
        tracing::warn!("lost PostgreSQL's notifications: serving the cached configuration");
        tokio::time::sleep(RECONNECT).await;
    }
}

async fn reload(node: &Node, store: &Store, cache: &Path) {
    if let Err(e) = export(store, cache).await {
        tracing::warn!(error = %e, "reading the configuration");
        return;
    }
    match Directory::load_each(cache) {
        Ok((directory, errors)) => {
            for error in errors {
                tracing::error!("unit not served: {error}");
            }
            let units = directory.units().len();
            node.replace_directory(directory).await;
            tracing::info!(units, "configuration reloaded");
        }
        Err(e) => tracing::error!(error = %e, "loading the cached configuration"),
    }
}
