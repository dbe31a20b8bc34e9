//! Client of the provisioning API, used by the `calea-probe intercept|destination|audit`
//! subcommands, the demo and the end-to-end tests. Mutual TLS with a pinned CA.

use std::path::Path;

use reqwest::Method;
use serde_json::Value;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The TLS material could not be loaded.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The connection or TLS handshake failed, or the response was unreadable.
    #[error("request to {url}: {source}")]
    Http {
        /// The URL.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The API refused the request.
    #[error("HTTP {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable error code from the response.
        code: String,
        /// Reason from the response.
        message: String,
    },
}

/// An HTTPS client for `url` trusting only `ca` and presenting `cert`/`key`
/// (TLS 1.3): the API's and X1's clients.
///
/// # Errors
/// Unreadable TLS material.
pub fn https_client(
    url: &str,
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<reqwest::Client, ClientError> {
    let tls = crate::tls::client_config(ca, cert, key)?;
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|source| ClientError::Http {
            url: url.to_owned(),
            source,
        })
}

/// A connection to one probe's API as one identity.
#[derive(Clone, Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
}

impl ApiClient {
    /// A client for `base` (e.g. `https://127.0.0.1:8443`) trusting only `ca` and
    /// presenting `cert`/`key`.
    ///
    /// # Errors
    /// Unreadable TLS material.
    pub fn new(base: &str, ca: &Path, cert: &Path, key: &Path) -> Result<Self, ClientError> {
        let http = https_client(base, ca, cert, key)?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// Sends `body` as-is and returns the status and the JSON body (Null if empty),
    /// whatever the status. For tests of malformed input.
    ///
    /// # Errors
    /// Transport failures only.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Value), ClientError> {
        let url = format!("{}{path}", self.base);
        let http_err = |source| ClientError::Http {
            url: url.clone(),
            source,
        };
        let mut req = self.http.request(method, &url);
        if let Some(body) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let resp = req.send().await.map_err(http_err)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(http_err)?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((status, value))
    }

    /// Sends a JSON request and returns the JSON answer, or [`ClientError::Api`] for 4xx/5xx.
    ///
    /// # Errors
    /// Transport failure or an error response.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let body = body.map(|b| b.to_string().into_bytes());
        let (status, value) = self.send_raw(method, path, body).await?;
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let field = |name: &str| {
            value
                .pointer(&format!("/error/{name}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Err(ClientError::Api {
            status,
            code: field("code"),
            message: field("message"),
        })
    }

    /// `POST /v1/intercepts`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn create_intercept(&self, req: &Value) -> Result<Value, ClientError> {
        self.call(Method::POST, "/v1/intercepts", Some(req)).await
    }

    /// `GET /v1/intercepts`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn list_intercepts(&self) -> Result<Value, ClientError> {
        self.call(Method::GET, "/v1/intercepts", None).await
    }

    /// `GET /v1/intercepts/{liid}`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn get_intercept(&self, liid: &str) -> Result<Value, ClientError> {
        self.call(Method::GET, &format!("/v1/intercepts/{liid}"), None)
            .await
    }

    /// `PATCH /v1/intercepts/{liid}`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn modify_intercept(&self, liid: &str, patch: &Value) -> Result<Value, ClientError> {
        self.call(
            Method::PATCH,
            &format!("/v1/intercepts/{liid}"),
            Some(patch),
        )
        .await
    }

    /// `DELETE /v1/intercepts/{liid}` (deactivate).
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn remove_intercept(&self, liid: &str) -> Result<Value, ClientError> {
        self.call(Method::DELETE, &format!("/v1/intercepts/{liid}"), None)
            .await
    }

    /// `GET /v1/destinations`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn list_destinations(&self) -> Result<Value, ClientError> {
        self.call(Method::GET, "/v1/destinations", None).await
    }

    /// `POST /v1/destinations`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn add_destination(&self, d: &Value) -> Result<Value, ClientError> {
        self.call(Method::POST, "/v1/destinations", Some(d)).await
    }

    /// `DELETE /v1/destinations/{name}`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn remove_destination(&self, name: &str) -> Result<Value, ClientError> {
        self.call(Method::DELETE, &format!("/v1/destinations/{name}"), None)
            .await
    }

    /// `GET /v1/static-assignments`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn list_static_assignments(&self) -> Result<Value, ClientError> {
        self.call(Method::GET, "/v1/static-assignments", None).await
    }

    /// `PUT /v1/static-assignments/{subscriber_id}` with `{"addresses": [...]}`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn put_static_assignment(
        &self,
        subscriber_id: &str,
        addresses: &[String],
    ) -> Result<Value, ClientError> {
        let body = serde_json::json!({ "addresses": addresses });
        self.call(Method::PUT, &static_path(subscriber_id), Some(&body))
            .await
    }

    /// `DELETE /v1/static-assignments/{subscriber_id}`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn remove_static_assignment(
        &self,
        subscriber_id: &str,
    ) -> Result<Value, ClientError> {
        self.call(Method::DELETE, &static_path(subscriber_id), None)
            .await
    }

    /// `GET /v1/audit/checkpoint`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn audit_checkpoint(&self) -> Result<Value, ClientError> {
        self.call(Method::GET, "/v1/audit/checkpoint", None).await
    }

    /// `GET /v1/audit?from=&limit=`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn audit(&self, from: u64, limit: usize) -> Result<Value, ClientError> {
        self.call(
            Method::GET,
            &format!("/v1/audit?from={from}&limit={limit}"),
            None,
        )
        .await
    }

    /// `GET /v1/health`.
    ///
    /// # Errors
    /// See [`ApiClient::call`].
    pub async fn health(&self) -> Result<Value, ClientError> {
        self.call(Method::GET, "/v1/health", None).await
    }
}

/// A subscriber id may hold any printable character: percent-encode it as one
/// path segment.
fn static_path(subscriber_id: &str) -> String {
    let id =
        percent_encoding::utf8_percent_encode(subscriber_id, percent_encoding::NON_ALPHANUMERIC);
    format!("/v1/static-assignments/{id}")
}
