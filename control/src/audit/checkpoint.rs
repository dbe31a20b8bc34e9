//! Signed checkpoints: the chain's head (probe, seq, hash, time) signed with an
//! Ed25519 key, sent outside the probe so that cutting records off the end of
//! both the database and the mirror is still detected.
//!
//! ```text
//! signed bytes = "calea-probe audit checkpoint v1\n"
//!                || lp(probe) || u64be(seq) || lp(head_hash) || lp(time)
//! lp(x) = u64be(byte length of x) || x        (x as UTF-8)
//! ```

use std::path::Path;

use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivatePkcs8KeyDer, SubjectPublicKeyInfoDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AuditError;

/// `format` of every checkpoint (and the signed domain separator).
pub const CHECKPOINT_FORMAT: &str = "calea-probe audit checkpoint v1";

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// One signed checkpoint, exactly as sinks receive it and `audit verify
/// --checkpoint` reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// `[probe] name` of the probe whose chain this is.
    pub probe: String,
    /// Seq of the newest record (0: empty log).
    pub seq: u64,
    /// Hash of that record (the genesis hash for an empty log).
    pub head_hash: String,
    /// When the checkpoint was made (RFC 3339, UTC).
    pub time: String,
    /// First 16 hex digits of SHA-256 over the public key: which key signed it.
    pub key_id: String,
    /// Ed25519 signature over the signed bytes, lower-case hex.
    pub signature: String,
}

fn signed_bytes(probe: &str, seq: u64, head_hash: &str, time: &str) -> Vec<u8> {
    fn lp(out: &mut Vec<u8>, field: &str) {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(CHECKPOINT_FORMAT.as_bytes());
    out.push(b'\n');
    lp(&mut out, probe);
    out.extend_from_slice(&seq.to_be_bytes());
    lp(&mut out, head_hash);
    lp(&mut out, time);
    out
}

fn key_id(public_key: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_key)[..8])
}

/// The private key checkpoints are signed with.
#[derive(Debug)]
pub struct SigningKey(Ed25519KeyPair);

impl SigningKey {
    /// Reads an Ed25519 PKCS#8 key (PEM `PRIVATE KEY`, as `calea-probe audit
    /// keygen` or `openssl genpkey -algorithm ed25519` write it).
    ///
    /// # Errors
    /// [`AuditError::Key`] naming the file.
    pub fn from_file(path: &Path) -> Result<Self, AuditError> {
        let der = PrivatePkcs8KeyDer::from_pem_file(path)
            .map_err(|e| AuditError::key(path, format!("not a PKCS#8 PEM private key: {e}")))?;
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der())
            .map(Self)
            .map_err(|e| AuditError::key(path, format!("not an Ed25519 key: {e}")))
    }

    /// The matching public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.0.public_key().as_ref());
        PublicKey(raw)
    }

    /// Signs the head `(seq, head_hash)` of `probe`'s chain at `time`.
    #[must_use]
    pub fn sign(&self, probe: &str, seq: u64, head_hash: &str, time: &str) -> Checkpoint {
        let sig = self.0.sign(&signed_bytes(probe, seq, head_hash, time));
        Checkpoint {
            format: CHECKPOINT_FORMAT.to_owned(),
            probe: probe.to_owned(),
            seq,
            head_hash: head_hash.to_owned(),
            time: time.to_owned(),
            key_id: key_id(self.0.public_key().as_ref()),
            signature: hex::encode(sig.as_ref()),
        }
    }
}

/// The public key checkpoints are verified with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Reads a public key (PEM `PUBLIC KEY`, as `openssl pkey -pubout` writes
    /// it) or derives it from the private key file.
    ///
    /// # Errors
    /// [`AuditError::Key`] naming the file.
    pub fn from_file(path: &Path) -> Result<Self, AuditError> {
        match SubjectPublicKeyInfoDer::from_pem_file(path) {
            Ok(spki) => spki
                .strip_prefix(&ED25519_SPKI_PREFIX[..])
                .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
                .map(Self)
                .ok_or_else(|| AuditError::key(path, "not an Ed25519 public key".into())),
            Err(_) => SigningKey::from_file(path).map(|k| k.public_key()),
        }
    }

    /// Checks that `cp` is a checkpoint signed by this key.
    ///
    /// # Errors
    /// [`AuditError::BadCheckpoint`] saying why it is refused.
    pub fn verify(&self, cp: &Checkpoint) -> Result<(), AuditError> {
        if cp.format != CHECKPOINT_FORMAT {
            return Err(AuditError::BadCheckpoint(format!(
                "format {:?} is not {CHECKPOINT_FORMAT:?}",
                cp.format
            )));
        }
        let sig = hex::decode(&cp.signature)
            .map_err(|_| AuditError::BadCheckpoint("signature is not hex".into()))?;
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(
                &signed_bytes(&cp.probe, cp.seq, &cp.head_hash, &cp.time),
                &sig,
            )
            .map_err(|_| {
                AuditError::BadCheckpoint(format!(
                    "the signature does not verify with key {}: the checkpoint was altered \
                     or signed by another key (it names key {})",
                    key_id(&self.0),
                    cp.key_id
                ))
            })
    }
}

/// A fresh Ed25519 key pair as (PKCS#8 private key PEM, public key PEM).
///
/// # Errors
/// [`AuditError::Key`] if the system RNG fails.
pub fn generate_key_pem() -> Result<(String, String), AuditError> {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .map_err(|e| AuditError::key(Path::new("(new key)"), e.to_string()))?;
    Ok((pair.serialize_pem(), pair.public_key_pem()))
}

#[cfg(test)]
mod test {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let (private, public) = generate_key_pem().unwrap();
        let (k, p) = (dir.join("k.pem"), dir.join("p.pem"));
        std::fs::write(&k, private).unwrap();
        std::fs::write(&p, public).unwrap();
        (k, p)
    }

    #[test]
    fn signs_and_verifies_and_refuses_any_change() {
        let dir = tempfile::tempdir().unwrap();
        let (k, p) = key_files(dir.path());
        let key = SigningKey::from_file(&k).unwrap();
        let public = PublicKey::from_file(&p).unwrap();
        assert_eq!(public, PublicKey::from_file(&k).unwrap());
        let cp = key.sign("probe-1", 7, "ab", "2026-01-01T00:00:00Z");
        public.verify(&cp).unwrap();
        let changed = [
            Checkpoint {
                seq: 6,
                ..cp.clone()
            },
            Checkpoint {
                head_hash: "ac".into(),
                ..cp.clone()
            },
            Checkpoint {
                probe: "probe-2".into(),
                ..cp.clone()
            },
            Checkpoint {
                time: "2026-01-01T00:00:01Z".into(),
                ..cp.clone()
            },
        ];
        for c in changed {
            let err = public.verify(&c).unwrap_err().to_string();
            assert!(err.contains("does not verify"), "{err}");
        }
        let other = tempfile::tempdir().unwrap();
        let other_key = PublicKey::from_file(&key_files(other.path()).1).unwrap();
        assert!(other_key.verify(&cp).is_err());
    }
}
