//! The ADMF side of X1, for `calea-probe x1 ...` and tests: writes request
//! containers, posts them over mutual TLS, reads the answers.

use std::path::Path;

use uuid::Uuid;

use super::error::X1Error;
use super::message::{parse_response, write_request, Answer, Kind, Request};
use super::server::X1_PATH;
use crate::client::{https_client, ClientError};

/// Why an X1 exchange failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum X1ClientError {
    /// TLS material, connection or transport.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The NE's answer is not an `X1Response` (e.g. a top-level error).
    #[error("HTTP {status}: {error}")]
    Response {
        /// HTTP status.
        status: u16,
        /// What was wrong with it.
        error: X1Error,
    },
}

/// One exchange: what was sent and what came back.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The request document.
    pub request: String,
    /// HTTP status.
    pub status: u16,
    /// The response document.
    pub response: String,
}

/// A connection to one NE as one ADMF.
#[derive(Clone, Debug)]
pub struct X1Client {
    http: reqwest::Client,
    url: String,
    admf: String,
    ne: String,
}

impl X1Client {
    /// A client of the NE at `base` (e.g. `https://10.0.0.5:9445`) presenting
    /// `cert`/`key`, naming itself `admf` and the NE `ne` in every message.
    ///
    /// # Errors
    /// Unreadable TLS material.
    pub fn new(
        base: &str,
        ca: &Path,
        cert: &Path,
        key: &Path,
        admf: &str,
        ne: &str,
    ) -> Result<Self, X1ClientError> {
        let url = format!("{}{X1_PATH}", base.trim_end_matches('/'));
        Ok(Self {
            http: https_client(&url, ca, cert, key)?,
            url,
            admf: admf.to_owned(),
            ne: ne.to_owned(),
        })
    }

    /// Posts `body` as-is.
    ///
    /// # Errors
    /// Transport failures only.
    pub async fn post_raw(&self, body: Vec<u8>) -> Result<(u16, String), X1ClientError> {
        let http_err = |source| ClientError::Http {
            url: self.url.clone(),
            source,
        };
        let resp = self
            .http
            .post(&self.url)
            .header("content-type", "application/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(http_err)?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(http_err)?;
        Ok((status, text))
    }

    /// Sends one container holding `messages` (each with a fresh transaction ID).
    ///
    /// # Errors
    /// Transport failures; an answer that is not an `X1Response`.
    pub async fn exchange(
        &self,
        messages: Vec<(Kind, Request)>,
    ) -> Result<(Exchange, Vec<Answer>), X1ClientError> {
        let items: Vec<(Uuid, Kind, Request)> = messages
            .into_iter()
            .map(|(k, r)| (Uuid::new_v4(), k, r))
            .collect();
        let request = write_request(&self.admf, &self.ne, &items);
        let (status, response) = self.post_raw(request.clone().into_bytes()).await?;
        let answers = parse_response(response.as_bytes())
            .map_err(|error| X1ClientError::Response { status, error })?;
        Ok((
            Exchange {
                request,
                status,
                response,
            },
            answers,
        ))
    }

    /// Sends one message and returns its answer.
    ///
    /// # Errors
    /// As [`X1Client::exchange`].
    pub async fn send(
        &self,
        kind: Kind,
        request: Request,
    ) -> Result<(Exchange, Answer), X1ClientError> {
        let (exchange, mut answers) = self.exchange(vec![(kind, request)]).await?;
        let answer = answers.pop().ok_or_else(|| X1ClientError::Response {
            status: exchange.status,
            error: X1Error::schema("X1Response holds no message"),
        })?;
        Ok((exchange, answer))
    }
}
