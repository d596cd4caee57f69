//! Backups: everything a node cannot get back from the network (its
//! identity, own offers, trades with their logs) in one file, to move a node
//! or survive a lost disk. The book is left out: the network refills it.

use peerfx_store::backup::Backup;

use crate::{identity, now, Node, NodeConfig, NodeError, IDENTITY_FILE};

pub use peerfx_store::backup::ImportStats;

impl Node {
    /// A backup of this node as file bytes. It contains the secret key:
    /// write it somewhere only the user can read.
    pub fn export_backup(&self) -> Result<Vec<u8>, NodeError> {
        let inner = &self.inner;
        Ok(inner.store.export_backup(&inner.key, now())?.to_bytes())
    }

    /// Restores a backup into the data directory of `config`, whose node must
    /// not be running: its identity (if the directory has none yet; a
    /// different one is refused), and every own offer, trade and trade message
    /// it does not have yet. Nothing is overwritten.
    pub async fn import_backup(
        config: &NodeConfig,
        bytes: &[u8],
    ) -> Result<ImportStats, NodeError> {
        let data_dir = &config.data_dir;
        let (backup, key) = Backup::from_bytes(bytes)?;
        std::fs::create_dir_all(data_dir).map_err(|source| identity::IdentityError::Io {
            path: data_dir.display().to_string(),
            source,
        })?;
        let id_path = data_dir.join(IDENTITY_FILE);
        if id_path.exists() {
            let existing = identity::load_or_create(&id_path)?;
            if existing.public() != key.public() {
                return Err(NodeError::OtherIdentity(data_dir.display().to_string()));
            }
        } else {
            identity::write(&id_path, &key)?;
        }
        let store = crate::open_store(data_dir, &config.store)?;
        // Durable when it returns; dropping the store frees the directory.
        let stats = store.import_backup(&backup).await?;
        drop(store);
        Ok(stats)
    }
}
