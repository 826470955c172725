//! A CSM's sentiment about a customer or account (SCORING.md, "CSM sentiment"):
//! `PUT /customers/{id}/sentiment` records one, `DELETE` clears it, `GET` lists them all. Each is
//! an event on the subject's own stream, so it is scored as of any time, shows in history and
//! is erased with the contact.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use healthscore_domain::crm_object::{CrmObjectCommand, CrmObjectEvent, SENTIMENT_RECORDED};
use healthscore_domain::ids::{ObjectRef, ObjectType};
use healthscore_domain::sentiment::{MAX_NOTE_CHARS, SentimentValue};
use healthscore_domain::time::rfc3339_ms;
use healthscore_projections::recorder::Message;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{Portal, PortalKey};
use super::body::JsonBytes;
use super::problem::{ApiError, FieldProblem, Problem};
use super::scores::{CompanyPath, CustomerPath};

/// What `PUT .../sentiment` takes.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the body; the handler reads it field by field for its 422s
pub struct SentimentInput {
    /// The CSM's call.
    value: SentimentValue,
    /// Why, in a sentence or two (at most 2,000 characters).
    #[schema(
        max_length = 2000,
        example = "Champion left in October; the new VP has not replied yet."
    )]
    note: Option<String>,
}

/// One sentiment recorded or cleared.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SentimentEntry {
    /// `recorded`, or `cleared` (from then on there is none).
    #[schema(example = "recorded")]
    action: &'static str,
    /// The value recorded; null for a clearing.
    value: Option<SentimentValue>,
    /// The note (blank after a privacy deletion); null for a clearing.
    note: Option<String>,
    /// The name of the API key that made the change.
    #[schema(example = "csm-team")]
    author: String,
    /// When it was recorded (the server's clock).
    #[schema(format = DateTime, example = "2026-11-13T09:30:00Z")]
    recorded_at: String,
}

/// A subject's sentiment now and every change to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentimentHistory {
    /// The sentiment in force (null when none was recorded or it was cleared). The
    /// `csm_sentiment` factor ignores one older than `csm_sentiment.expires_days`.
    current: Option<SentimentEntry>,
    /// Every change, newest first.
    history: Vec<SentimentEntry>,
}

/// A customer's sentiment now and every change to it.
#[utoipa::path(
    get, path = "/customers/{id}/sentiment", tag = "sentiment",
    params(CustomerPath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The sentiment history", body = SentimentHistory),
        (status = 404, description = "No such contact in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_customer(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(path): Path<CustomerPath>,
) -> Result<Json<SentimentHistory>, ApiError> {
    let object = live_object(&state, portal, ObjectType::Contact, path.id()).await?;
    history(&state, object).await.map(Json)
}

/// Records a CSM's sentiment about a customer.
#[utoipa::path(
    put, path = "/customers/{id}/sentiment", tag = "sentiment",
    params(CustomerPath),
    request_body(content = SentimentInput, content_type = "application/json"),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Recorded: the sentiment now", body = SentimentHistory),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such contact in this portal", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 16 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`errors` names each bad field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_customer(
    State(state): State<AppState>,
    key: PortalKey,
    Path(path): Path<CustomerPath>,
    JsonBytes(body): JsonBytes,
) -> Result<Json<SentimentHistory>, ApiError> {
    put(&state, key, ObjectType::Contact, path.id(), &body).await
}

/// Clears a customer's sentiment (from now on there is none).
#[utoipa::path(
    delete, path = "/customers/{id}/sentiment", tag = "sentiment",
    params(CustomerPath),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Cleared (or there was none)"),
        (status = 404, description = "No such contact in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_customer(
    State(state): State<AppState>,
    key: PortalKey,
    Path(path): Path<CustomerPath>,
) -> Result<Response, ApiError> {
    clear(&state, key, ObjectType::Contact, path.id()).await
}

/// An account's sentiment now and every change to it.
#[utoipa::path(
    get, path = "/companies/{id}/sentiment", tag = "sentiment",
    params(CompanyPath),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The sentiment history", body = SentimentHistory),
        (status = 404, description = "No such company in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_company(
    State(state): State<AppState>,
    Portal(portal): Portal,
    Path(path): Path<CompanyPath>,
) -> Result<Json<SentimentHistory>, ApiError> {
    let object = live_object(&state, portal, ObjectType::Company, path.id()).await?;
    history(&state, object).await.map(Json)
}

/// Records a CSM's sentiment about an account.
#[utoipa::path(
    put, path = "/companies/{id}/sentiment", tag = "sentiment",
    params(CompanyPath),
    request_body(content = SentimentInput, content_type = "application/json"),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Recorded: the sentiment now", body = SentimentHistory),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such company in this portal", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over 16 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`errors` names each bad field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_company(
    State(state): State<AppState>,
    key: PortalKey,
    Path(path): Path<CompanyPath>,
    JsonBytes(body): JsonBytes,
) -> Result<Json<SentimentHistory>, ApiError> {
    put(&state, key, ObjectType::Company, path.id(), &body).await
}

/// Clears an account's sentiment (from now on there is none).
#[utoipa::path(
    delete, path = "/companies/{id}/sentiment", tag = "sentiment",
    params(CompanyPath),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Cleared (or there was none)"),
        (status = 404, description = "No such company in this portal", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_company(
    State(state): State<AppState>,
    key: PortalKey,
    Path(path): Path<CompanyPath>,
) -> Result<Response, ApiError> {
    clear(&state, key, ObjectType::Company, path.id()).await
}

/// The largest body `PUT .../sentiment` reads (a 2,000-character note, escaped, fits).
pub const MAX_SENTIMENT_BYTES: usize = 16 * 1024;

async fn put(
    state: &AppState,
    key: PortalKey,
    object_type: ObjectType,
    id: &str,
    body: &[u8],
) -> Result<Json<SentimentHistory>, ApiError> {
    let (value, note) = parse_input(body)?;
    let object = live_object(state, key.portal, object_type, id).await?;
    record(
        state,
        CrmObjectCommand::RecordSentiment {
            object,
            value,
            note,
            author: key.name,
            recorded_at: state.clock.now().timestamp_millis(),
        },
    )
    .await?;
    history(state, object).await.map(Json)
}

async fn clear(
    state: &AppState,
    key: PortalKey,
    object_type: ObjectType,
    id: &str,
) -> Result<Response, ApiError> {
    let object = live_object(state, key.portal, object_type, id).await?;
    // Clearing what is not there records nothing: a repeated DELETE changes nothing.
    if history(state, object).await?.current.is_some() {
        record(
            state,
            CrmObjectCommand::ClearSentiment {
                object,
                author: key.name,
                recorded_at: state.clock.now().timestamp_millis(),
            },
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{"value", "note"}` checked field by field: each problem named, unknown keys too.
fn parse_input(body: &[u8]) -> Result<(SentimentValue, String), ApiError> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let invalid = |errors: Vec<FieldProblem>| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "the sentiment is invalid")
            .with_errors(errors)
    };
    let problem = |field: &str, message: String| FieldProblem {
        field: field.to_owned(),
        message,
    };
    let Value::Object(fields) = document else {
        return Err(invalid(vec![problem(
            "",
            "expected an object {\"value\", \"note\"}".to_owned(),
        )]));
    };
    let mut errors = Vec::new();
    for name in fields
        .keys()
        .filter(|k| !["value", "note"].contains(&k.as_str()))
    {
        errors.push(problem(
            name,
            "unknown field: expected value and note".to_owned(),
        ));
    }
    let value = fields
        .get("value")
        .and_then(Value::as_str)
        .and_then(SentimentValue::from_name);
    if value.is_none() {
        let names = SentimentValue::ALL.map(SentimentValue::as_str).join(", ");
        let message = if fields.contains_key("value") {
            format!("expected one of {names}")
        } else {
            format!("required: one of {names}")
        };
        errors.push(problem("value", message));
    }
    let note = match fields.get("note") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(note)) if note.chars().count() > MAX_NOTE_CHARS => {
            errors.push(problem(
                "note",
                format!("at most {MAX_NOTE_CHARS} characters"),
            ));
            String::new()
        }
        Some(Value::String(note)) => note.clone(),
        Some(_) => {
            errors.push(problem("note", "expected a string".to_owned()));
            String::new()
        }
    };
    match value {
        Some(value) if errors.is_empty() => Ok((value, note)),
        _ => Err(invalid(errors)),
    }
}

/// The live contact or company `id` of `portal`; 404 when there is none (another portal's
/// object included).
async fn live_object(
    state: &AppState,
    portal: healthscore_domain::ids::PortalId,
    object_type: ObjectType,
    id: &str,
) -> Result<ObjectRef, ApiError> {
    let not_found = || ApiError::not_found(format!("no {} {id}", object_type.as_str()));
    let numeric: u64 = id.parse().map_err(|_| not_found())?;
    state.scoring.catch_up().await?;
    let live = state
        .scoring
        .with_portal(portal, |objects| objects.is_live(object_type, numeric));
    if live {
        Ok(ObjectRef::new(portal, object_type, numeric))
    } else {
        Err(not_found())
    }
}

async fn record(state: &AppState, command: CrmObjectCommand) -> Result<(), ApiError> {
    state
        .recorder
        .record(vec![Message {
            dedup_key: None,
            commands: vec![command],
            metadata: r#"{"source":"api"}"#.to_owned(),
            raw_events: Vec::new(),
        }])
        .await?;
    Ok(())
}

/// Every sentiment change on the object's stream, newest first, and the one in force.
async fn history(state: &AppState, object: ObjectRef) -> Result<SentimentHistory, ApiError> {
    let events = state.store.read_stream(&object.stream_id(), 0).await?;
    let mut history = Vec::new();
    for recorded in events.iter().rev() {
        let event: CrmObjectEvent = match recorded.event.event_type.as_str() {
            SENTIMENT_RECORDED | "SentimentCleared" => {
                serde_json::from_str(&recorded.event.payload).map_err(ApiError::internal)?
            }
            _ => continue,
        };
        history.push(match event {
            CrmObjectEvent::SentimentRecorded {
                value,
                note,
                author,
                occurred_at,
                ..
            } => SentimentEntry {
                action: "recorded",
                value: Some(value),
                note: Some(note),
                author,
                recorded_at: rfc3339_ms(occurred_at),
            },
            CrmObjectEvent::SentimentCleared {
                author,
                occurred_at,
                ..
            } => SentimentEntry {
                action: "cleared",
                value: None,
                note: None,
                author,
                recorded_at: rfc3339_ms(occurred_at),
            },
            _ => continue,
        });
    }
    let current = history
        .first()
        .filter(|latest| latest.action == "recorded")
        .cloned();
    Ok(SentimentHistory { current, history })
}
