//! A throw-away PKI for tests, the demo and `scripts/gen-certs.sh`: one CA that
//! issues the API/collector server certificate (SAN localhost + 127.0.0.1) and
//! client certificates whose subject CN is the identity roles are mapped from.
//! Production deployments bring their own CA; nothing here is on a hot path.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// Why certificates could not be generated or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// rcgen refused the parameters or failed to sign.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A certificate with its private key, both PEM-encoded.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PKCS#8 PEM).
    pub key_pem: String,
}

impl Issued {
    /// Writes `DIR/STEM.pem` and `DIR/STEM.key` (key mode 0600) and returns both paths.
    ///
    /// # Errors
    /// [`PkiError::Write`] on any I/O failure.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<(PathBuf, PathBuf), PkiError> {
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}.key"));
        write_file(&cert, &self.cert_pem, 0o644)?;
        write_file(&key, &self.key_pem, 0o600)?;
        Ok((cert, key))
    }
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| PkiError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    file.write_all(text.as_bytes()).map_err(err)
}

/// A certificate authority able to issue server and client certificates.
pub struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    /// A fresh self-signed CA (ECDSA P-256) with subject CN `cn`.
    ///
    /// # Errors
    /// [`PkiError::Generate`] if rcgen fails.
    pub fn generate(cn: &str) -> Result<Self, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self { cert, key })
    }

    /// The CA certificate (PEM): what peers pin.
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for `cn` valid for `sans` (DNS names or IP literals).
    ///
    /// # Errors
    /// [`PkiError::Generate`] if a SAN is invalid or signing fails.
    pub fn issue_server(&self, cn: &str, sans: &[&str]) -> Result<Issued, PkiError> {
        let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        self.issue(cn, sans, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate whose subject CN is `cn` (the identity the API maps to a role).
    ///
    /// # Errors
    /// [`PkiError::Generate`] if signing fails.
    pub fn issue_client(&self, cn: &str) -> Result<Issued, PkiError> {
        self.issue(cn, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(
        &self,
        cn: &str,
        sans: Vec<String>,
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<Issued, PkiError> {
        let mut params = CertificateParams::new(sans)?;
        params.distinguished_name = name(cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// Paths of a generated set of certificates (see [`generate_bundle`]).
#[derive(Clone, Debug)]
pub struct Bundle {
    /// `DIR/ca.pem`.
    pub ca: PathBuf,
    /// `DIR/server.pem` (CN `localhost`, SAN localhost and 127.0.0.1).
    pub server_cert: PathBuf,
    /// `DIR/server.key`.
    pub server_key: PathBuf,
    /// Per client CN: (`DIR/<cn>.pem`, `DIR/<cn>.key`), in the order given.
    pub clients: Vec<(String, PathBuf, PathBuf)>,
}

impl Bundle {
    /// Certificate and key paths of client `cn`, if it was generated.
    pub fn client(&self, cn: &str) -> Option<(&Path, &Path)> {
        self.clients
            .iter()
            .find(|(name, _, _)| name == cn)
            .map(|(_, c, k)| (c.as_path(), k.as_path()))
    }
}

/// Generates a CA, a localhost server certificate and one client certificate per
/// CN in `client_cns`, and writes them all under `dir` (which must exist).
///
/// # Errors
/// Generation or I/O failure.
pub fn generate_bundle(dir: &Path, client_cns: &[&str]) -> Result<Bundle, PkiError> {
    let ca = Ca::generate("calea-probe test CA")?;
    let ca_path = dir.join("ca.pem");
    write_file(&ca_path, &ca.cert_pem(), 0o644)?;
    let (server_cert, server_key) = ca
        .issue_server("localhost", &["localhost", "127.0.0.1"])?
        .write(dir, "server")?;
    let mut clients = Vec::with_capacity(client_cns.len());
    for cn in client_cns {
        let (cert, key) = ca.issue_client(cn)?.write(dir, cn)?;
        clients.push(((*cn).to_owned(), cert, key));
    }
    Ok(Bundle {
        ca: ca_path,
        server_cert,
        server_key,
        clients,
    })
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn bundle_loads_into_rustls_and_carries_the_cn() {
        let dir = tempfile::tempdir().unwrap();
        let b = generate_bundle(dir.path(), &["alice"]).unwrap();
        crate::tls::server_config(&b.server_cert, &b.server_key, &b.ca).unwrap();
        let (cert, key) = b.client("alice").unwrap();
        crate::tls::client_config(&b.ca, cert, key).unwrap();
        let der = crate::tls::load_certs(cert).unwrap();
        assert_eq!(crate::tls::subject_cn(&der[0]).as_deref(), Some("alice"));
        assert!(b.client("bob").is_none());
    }
}
