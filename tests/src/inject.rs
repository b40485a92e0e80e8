//! Answers DynamoDB Local never gives (a transaction conflict, a statement refused inside a
//! batch, a permission denied), for interceptors that inject them: the chosen request is turned
//! into a read-only call that writes nothing, and its response is replaced with the answer
//! DynamoDB would send.

use aws_sdk_dynamodb::config::http::{HttpRequest, HttpResponse};
use aws_sdk_dynamodb::error::BoxError;

/// The header naming a request's operation, `DynamoDB_20120810.<Operation>`.
pub const TARGET: &str = "x-amz-target";

/// Turns `request` into a `ListTables` call: whatever it was, it now writes nothing.
pub fn divert_to_read_only(request: &mut HttpRequest) {
    request
        .headers_mut()
        .insert(TARGET, "DynamoDB_20120810.ListTables");
    request.headers_mut().insert("content-length", "2");
    *request.body_mut() = "{}".into();
}

/// Replaces `response` with `status` and the JSON `body`.
///
/// # Errors
/// When `status` is not an HTTP status.
pub fn answer(
    response: &mut HttpResponse,
    status: u16,
    body: &serde_json::Value,
) -> Result<(), BoxError> {
    let body = body.to_string();
    *response.status_mut() = status.try_into()?;
    // The checksum of the real answer would not match the injected one.
    response.headers_mut().remove("x-amz-crc32");
    response
        .headers_mut()
        .insert("content-length", body.len().to_string());
    *response.body_mut() = body.into();
    Ok(())
}
