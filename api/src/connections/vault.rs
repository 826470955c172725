//! Tokens sealed at rest with AES-256-GCM: a fresh random nonce per sealing and the portal id
//! as associated data, so a sealed token copied to another portal's row does not open.
//!
//! The keys come from `HEALTHSCORE_SECRET_KEY` (base64 of 32 bytes; a comma list while rotating:
//! the first one seals, every one opens) or, on SQLite without the variable, from a key file
//! created beside the database with mode 0600 on first start. A sealed value names the key that
//! sealed it by a short fingerprint: `v1.<fingerprint>.<base64 nonce+ciphertext>`.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use healthscore_domain::ids::PortalId;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The environment variable holding the key(s).
pub const SECRET_KEY_VAR: &str = "HEALTHSCORE_SECRET_KEY";

/// Bytes of a nonce (AES-GCM's 96 bits).
const NONCE_BYTES: usize = 12;

/// Why the vault cannot be set up or a value cannot be opened. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A key in the variable is not base64 of 32 bytes.
    #[error(
        "{SECRET_KEY_VAR} must be base64 of 32 bytes (e.g. `openssl rand -base64 32`); entry {0} is not"
    )]
    BadKey(usize),
    /// PostgreSQL deployments share the key through the variable.
    #[error(
        "set {SECRET_KEY_VAR} (base64 of 32 bytes, e.g. `openssl rand -base64 32`): on PostgreSQL every instance needs the same key to read the stored HubSpot tokens"
    )]
    KeyRequired,
    /// The key file could not be read or created.
    #[error("cannot use the key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No configured key sealed this value (the key was rotated out) or it was tampered with.
    #[error(
        "a stored token cannot be opened with the configured keys (was {SECRET_KEY_VAR} rotated without `healthscore connections rotate-key`?)"
    )]
    Unreadable,
}

/// The keys: the first seals, all open.
#[derive(Clone)]
pub struct Vault {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fingerprints: Vec<&str> = self.keys.iter().map(|(f, _)| f.as_str()).collect();
        f.debug_struct("Vault")
            .field("keys", &fingerprints)
            .finish()
    }
}

fn fingerprint(key: &[u8]) -> String {
    hex::encode(&Sha256::digest(key)[..4])
}

impl Vault {
    /// A vault over raw 32-byte keys, the first sealing.
    pub fn new(keys: &[[u8; 32]]) -> Self {
        let keys = keys
            .iter()
            .map(|key| {
                let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
                (fingerprint(key), cipher)
            })
            .collect();
        Self { keys }
    }

    /// Keys from `HEALTHSCORE_SECRET_KEY`'s value (`a,b,...`, base64 each).
    pub fn from_list(list: &str) -> Result<Self, VaultError> {
        let keys = list
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .enumerate()
            .map(|(i, k)| {
                let bytes = STANDARD.decode(k).map_err(|_| VaultError::BadKey(i + 1))?;
                <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| VaultError::BadKey(i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(VaultError::BadKey(1));
        }
        Ok(Self::new(&keys))
    }

    /// The vault a server uses: the variable when set; else, for a SQLite database at `file`,
    /// the key file beside it (created with mode 0600 the first time); else an error.
    pub fn configure(
        variable: Option<&Secret>,
        sqlite_file: Option<&Path>,
    ) -> Result<Self, VaultError> {
        if let Some(list) = variable {
            return Self::from_list(list.expose());
        }
        let Some(file) = sqlite_file else {
            return Err(VaultError::KeyRequired);
        };
        let path = key_file_beside(file);
        Self::from_list(&read_or_create_key_file(&path)?)
    }

    /// Seals `plain` for `portal`.
    pub fn seal(&self, portal: PortalId, plain: &str) -> String {
        let (fingerprint, cipher) = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = portal.0.to_be_bytes();
        // Encryption into a Vec cannot fail for inputs this size.
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("v1.{fingerprint}.{}", STANDARD.encode(bytes))
    }

    /// Opens a value sealed for `portal` by any configured key.
    pub fn open(&self, portal: PortalId, sealed: &str) -> Result<Secret, VaultError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(fingerprint), Some(body)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(VaultError::Unreadable);
        };
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(f, _)| f == fingerprint)
            .ok_or(VaultError::Unreadable)?;
        let bytes = STANDARD.decode(body).map_err(|_| VaultError::Unreadable)?;
        if bytes.len() < NONCE_BYTES {
            return Err(VaultError::Unreadable);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let aad = portal.0.to_be_bytes();
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Unreadable)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| VaultError::Unreadable)
    }

    /// Whether `sealed` was sealed by the key that seals now (else rotation re-seals it).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed
            .split('.')
            .nth(1)
            .is_some_and(|f| f == self.keys[0].0)
    }

    /// A new random key, base64, for a key file or the variable.
    pub fn generate_key() -> String {
        STANDARD.encode(Aes256Gcm::generate_key(&mut OsRng))
    }
}

/// `healthscore.db` -> `healthscore.db.key`.
pub fn key_file_beside(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(".key");
    database.with_file_name(name)
}

fn read_or_create_key_file(path: &Path) -> Result<String, VaultError> {
    let failed = |source| VaultError::KeyFile {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text.trim().to_owned()),
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(failed(error)),
        Err(_) => {}
    }
    let key = Vault::generate_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            use std::io::Write as _;
            file.write_all(key.as_bytes()).map_err(failed)?;
            file.sync_all().map_err(failed)?;
            tracing::info!(path = %path.display(), "created the key that encrypts HubSpot tokens; back it up with the database");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path)
                .map(|t| t.trim().to_owned())
                .map_err(failed)
        }
        Err(error) => Err(failed(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_opens_only_for_its_portal_and_with_a_configured_key() {
        let vault = Vault::new(&[[7; 32]]);
        let sealed = vault.seal(PortalId(62515), "pat-na1-secret");
        assert!(!sealed.contains("pat-na1"));
        assert_ne!(
            sealed,
            vault.seal(PortalId(62515), "pat-na1-secret"),
            "fresh nonce"
        );
        assert_eq!(
            vault
                .open(PortalId(62515), &sealed)
                .expect("opens")
                .expose(),
            "pat-na1-secret"
        );
        assert!(
            vault.open(PortalId(1), &sealed).is_err(),
            "bound to its portal"
        );
        assert!(
            Vault::new(&[[8; 32]])
                .open(PortalId(62515), &sealed)
                .is_err()
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(vault.open(PortalId(62515), &tampered).is_err());
    }

    #[test]
    fn during_a_rotation_the_first_key_seals_and_every_key_opens() {
        let old = Vault::new(&[[1; 32]]);
        let sealed = old.seal(PortalId(5), "token");
        let rotating = Vault::new(&[[2; 32], [1; 32]]);
        assert!(!rotating.is_current(&sealed));
        assert_eq!(
            rotating.open(PortalId(5), &sealed).expect("opens").expose(),
            "token"
        );
        assert!(rotating.is_current(&rotating.seal(PortalId(5), "token")));
    }

    #[test]
    fn keys_from_the_variable_must_be_32_bytes() {
        let good = STANDARD.encode([3u8; 32]);
        assert!(Vault::from_list(&format!("{good}, {good}")).is_ok());
        assert!(matches!(
            Vault::from_list("c2hvcnQ="),
            Err(VaultError::BadKey(1))
        ));
        assert!(matches!(
            Vault::from_list(&format!("{good},???")),
            Err(VaultError::BadKey(2))
        ));
        assert!(matches!(
            Vault::configure(None, None),
            Err(VaultError::KeyRequired)
        ));
    }

    #[test]
    fn the_key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("healthscore.db");
        let first = Vault::configure(None, Some(&db)).expect("created");
        let again = Vault::configure(None, Some(&db)).expect("read");
        let sealed = first.seal(PortalId(9), "x");
        assert_eq!(
            again.open(PortalId(9), &sealed).expect("same key").expose(),
            "x"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(key_file_beside(&db))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
