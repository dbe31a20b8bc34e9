//! The HTTP routes: authorise by role, parse strictly, call [`Provisioning`],
//! shape the response for the caller's role.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::{ApiError, Permission, Provisioning, Refusal, Role};
use crate::model::{format_time, Destination, Intercept, InterceptState};

/// Every route the router serves, as (method, OpenAPI path template). The OpenAPI
/// document must describe exactly these (checked by a test).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/health"),
    ("get", "/v1/intercepts"),
    ("post", "/v1/intercepts"),
    ("get", "/v1/intercepts/{liid}"),
    ("patch", "/v1/intercepts/{liid}"),
    ("delete", "/v1/intercepts/{liid}"),
    ("get", "/v1/destinations"),
    ("post", "/v1/destinations"),
    ("delete", "/v1/destinations/{name}"),
    ("get", "/v1/static-assignments"),
    ("put", "/v1/static-assignments/{subscriber_id}"),
    ("delete", "/v1/static-assignments/{subscriber_id}"),
    ("get", "/v1/audit"),
    ("get", "/v1/audit/checkpoint"),
];

/// The authenticated peer of one TLS connection (inserted by the accept loop).
#[derive(Clone, Debug)]
pub struct Peer {
    /// Subject CN of the client certificate ("" if it has none).
    pub cn: String,
    /// Remote address, for audit records.
    pub addr: String,
}

/// Shared state of every route.
pub struct ApiState {
    /// The probe behind the API.
    pub backend: Arc<dyn Provisioning>,
    /// subject CN → role.
    pub identities: std::collections::HashMap<String, Role>,
    /// Request metrics.
    pub metrics: Option<crate::metrics::ProbeMetrics>,
}

type Shared = State<Arc<ApiState>>;

impl ApiState {
    fn authorize(&self, peer: &Peer, p: Permission) -> Result<Role, ApiError> {
        let role = self.identities.get(&peer.cn).copied().ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "unknown_identity",
                format!(
                    "client certificate CN {:?} has no role on this probe",
                    peer.cn
                ),
            )
        })?;
        if role.allows(p) {
            Ok(role)
        } else {
            Err(ApiError::forbidden(format!("role {role:?} may not {p:?}")))
        }
    }
}

/// Runs a blocking backend call on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("request task failed: {e}")))?
}

/// Largest request body: room for an intercept with `MAX_TARGETS` IPv6 prefixes.
pub const MAX_BODY: usize = 8 << 20;

/// A request body as read (or why it could not be), before parsing.
type RawBody = Result<Bytes, BytesRejection>;

fn parse_body<T: serde::de::DeserializeOwned>(body: RawBody) -> Result<T, ApiError> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body is larger than {MAX_BODY} bytes"),
        ),
        _ => ApiError::bad_request("unreadable_body", e.body_text()),
    })?;
    serde_json::from_slice(&body).map_err(|e| ApiError::from_json(&e))
}

/// What a viewer sees of an intercept: never targets or warrant details.
#[derive(Debug, Serialize)]
struct Summary {
    liid: String,
    state: InterceptState,
    valid_from: String,
    valid_until: String,
}

impl From<&Intercept> for Summary {
    fn from(i: &Intercept) -> Self {
        Self {
            liid: i.liid.as_str().to_owned(),
            state: i.state,
            valid_from: format_time(i.valid_from),
            valid_until: format_time(i.valid_until),
        }
    }
}

fn shaped(role: Role, intercepts: &[Intercept]) -> Result<serde_json::Value, ApiError> {
    let value = if role.allows(Permission::ReadInterceptDetails) {
        serde_json::to_value(intercepts)
    } else {
        serde_json::to_value(intercepts.iter().map(Summary::from).collect::<Vec<_>>())
    };
    value.map_err(|e| ApiError::internal(e.to_string()))
}

async fn health(State(st): Shared, Extension(peer): Extension<Peer>) -> Result<Response, ApiError> {
    st.authorize(&peer, Permission::ListIntercepts)?;
    Ok(Json(serde_json::json!({"status": "ok"})).into_response())
}

async fn list_intercepts(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
) -> Result<Response, ApiError> {
    let role = st.authorize(&peer, Permission::ListIntercepts)?;
    let backend = st.backend.clone();
    let all = blocking(move || backend.list_intercepts()).await?;
    Ok(Json(shaped(role, &all)?).into_response())
}

async fn show_intercept(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
    Path(liid): Path<String>,
) -> Result<Response, ApiError> {
    let role = st.authorize(&peer, Permission::ListIntercepts)?;
    let backend = st.backend.clone();
    let one = blocking(move || backend.get_intercept(&liid)).await?;
    let mut shaped = shaped(role, std::slice::from_ref(&one))?;
    Ok(Json(shaped.get_mut(0).map(std::mem::take).unwrap_or_default()).into_response())
}

fn observe_activation(st: &ApiState, started: Instant) {
    if let Some(m) = &st.metrics {
        m.activation_latency
            .observe(started.elapsed().as_secs_f64());
    }
}

async fn create_intercept(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    st.authorize(&peer, Permission::WriteIntercepts)?;
    let req = parse_body(body)?;
    let backend = st.backend.clone();
    let out = blocking(move || backend.create_intercept(&peer.cn, req)).await?;
    observe_activation(&st, started);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn modify_intercept(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
    Path(liid): Path<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    st.authorize(&peer, Permission::WriteIntercepts)?;
    let patch = parse_body(body)?;
    let backend = st.backend.clone();
    let out = blocking(move || backend.modify_intercept(&peer.cn, &liid, patch)).await?;
    observe_activation(&st, started);
    Ok(Json(out).into_response())
}

async fn remove_intercept(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
    Path(liid): Path<String>,
) -> Result<Response, ApiError> {
    st.authorize(&peer, Permission::WriteIntercepts)?;
    let backend = st.backend.clone();
    let out = blocking(move || backend.remove_intercept(&peer.cn, &liid)).await?;
    Ok(Json(out).into_response())
}

async fn list_destinations(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
) -> Result<Response, ApiError> {
    st.authorize(&peer, Permission::ReadDestinations)?;
    let backend = st.backend.clone();
    Ok(Json(blocking(move || backend.list_destinations()).await?).into_response())
}

async fn add_destination(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
    body: RawBody,
) -> Result<Response, ApiError> {
    st.authorize(&peer, Permission::WriteDestinations)?;
    let d: Destination = parse_body(body)?;
    let backend = st.backend.clone();
    let out = blocking(move || backend.add_destination(&peer.cn, d)).await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn remove_destination(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    st.authorize(&peer, Permission::WriteDestinations)?;
    let backend = st.backend.clone();
    blocking(move || backend.remove_destination(&peer.cn, &name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// A static customer's addresses are as sensitive as an intercept's targets:
// read with the details of intercepts, written by whoever provisions them.
async fn list_static_assignments(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
) -> Result<Response, ApiError> {
    st.authorize(&peer, Permission::ReadInterceptDetails)?;
    let backend = st.backend.clone();
    Ok(Json(blocking(move || backend.list_static_assignments()).await?).into_response())
}

async fn put_static_assignment(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
    Path(subscriber_id): Path<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    st.authorize(&peer, Permission::WriteIntercepts)?;
    let req = parse_body(body)?;
    let backend = st.backend.clone();
    let out =
        blocking(move || backend.put_static_assignment(&peer.cn, &subscriber_id, req)).await?;
    Ok(Json(out).into_response())
}

async fn remove_static_assignment(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
    Path(subscriber_id): Path<String>,
) -> Result<Response, ApiError> {
    st.authorize(&peer, Permission::WriteIntercepts)?;
    let backend = st.backend.clone();
    let out = blocking(move || backend.remove_static_assignment(&peer.cn, &subscriber_id)).await?;
    Ok(Json(out).into_response())
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    #[serde(default)]
    from: u64,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

/// Largest page of audit records one request may ask for.
pub const MAX_AUDIT_PAGE: usize = 10_000;

async fn audit(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    st.authorize(&peer, Permission::ReadAudit)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    if q.limit > MAX_AUDIT_PAGE {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be at most {MAX_AUDIT_PAGE}, got {}", q.limit),
        ));
    }
    let backend = st.backend.clone();
    Ok(Json(blocking(move || backend.audit_records(q.from, q.limit)).await?).into_response())
}

/// `GET /v1/audit/checkpoint`: the newest signed checkpoint of the audit chain.
async fn audit_checkpoint(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
) -> Result<Response, ApiError> {
    st.authorize(&peer, Permission::ReadAudit)?;
    let backend = st.backend.clone();
    match blocking(move || backend.audit_checkpoint()).await? {
        Some(cp) => Ok(Json(cp).into_response()),
        None => Err(ApiError::not_found(
            "no audit checkpoint yet ([audit] checkpoint_key unset, or none made so far)",
        )),
    }
}

async fn no_route() -> ApiError {
    ApiError::not_found("no such route")
}

/// Audits every refused request (any response carrying a [`Refusal`]) and counts responses.
async fn audit_refusals(
    State(st): Shared,
    Extension(peer): Extension<Peer>,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(req).await;
    if let Some(m) = &st.metrics {
        m.api_requests
            .with_label_values(&[&route, response.status().as_str()])
            .inc();
    }
    if let Some(refusal) = response.extensions().get::<Refusal>().cloned() {
        if let Some(m) = &st.metrics {
            m.api_refusals.with_label_values(&[refusal.code]).inc();
        }
        tracing::info!(code = refusal.code, %method, route, "request refused");
        let details = serde_json::json!({
            "method": method, "path": path, "peer": peer.addr,
            "status": response.status().as_u16(),
            "code": refusal.code, "reason": refusal.message,
        });
        let backend = st.backend.clone();
        let actor = peer.cn.clone();
        let _ = tokio::task::spawn_blocking(move || backend.audit_refusal(false, &actor, details))
            .await;
    }
    response
}

/// The router (without the per-connection [`Peer`] extension, which the TLS
/// accept loop inserts into each request).
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route(
            "/v1/intercepts",
            get(list_intercepts).post(create_intercept),
        )
        .route(
            "/v1/intercepts/{liid}",
            get(show_intercept)
                .patch(modify_intercept)
                .delete(remove_intercept),
        )
        .route(
            "/v1/destinations",
            get(list_destinations).post(add_destination),
        )
        .route(
            "/v1/destinations/{name}",
            axum::routing::delete(remove_destination),
        )
        .route("/v1/static-assignments", get(list_static_assignments))
        .route(
            "/v1/static-assignments/{subscriber_id}",
            axum::routing::put(put_static_assignment).delete(remove_static_assignment),
        )
        .route("/v1/audit", get(audit))
        .route("/v1/audit/checkpoint", get(audit_checkpoint))
        .fallback(no_route)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit_refusals,
        ))
        .with_state(state)
}

#[cfg(test)]
mod test {
    use super::ROUTES;

    /// Every route is in control/openapi.yaml under its path, and every path there is a route.
    #[test]
    fn openapi_documents_exactly_the_routes() {
        let doc = include_str!("../../openapi.yaml");
        let paths = doc.split("\npaths:\n").nth(1).unwrap();
        let mut documented = Vec::new();
        let mut current = "";
        for line in paths.lines() {
            let Some(key) = line.trim_start().strip_suffix(':') else {
                continue;
            };
            match line.len() - line.trim_start().len() {
                2 => current = key,
                4 if ["get", "post", "patch", "delete", "put"].contains(&key) => {
                    documented.push((key.to_owned(), current.to_owned()));
                }
                _ => {}
            }
        }
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        routes.sort();
        documented.sort();
        assert_eq!(routes, documented);
    }
}
