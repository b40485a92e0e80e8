//! The W3C trace context of the current span, for the messages deposited in it: with the
//! feature `opentelemetry`, a message made inside a span that OpenTelemetry tracks (through
//! tracing-opentelemetry) carries its `traceparent` and `tracestate`, so that a consumer's
//! tracing continues the producer's trace. Without the feature, nothing is filled in.

use crate::message::Message;

/// Fills the message's trace context from the current span, unless it has one already.
pub(crate) fn fill_from_current_span(message: &mut Message) {
    if message.header.trace_parent.is_some() {
        return;
    }
    if let Some((parent, state)) = current() {
        message.header.trace_parent = Some(parent);
        message.header.trace_state = state;
    }
}

#[cfg(feature = "opentelemetry")]
fn current() -> Option<(String, Option<String>)> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    if !span_context.is_valid() {
        return None;
    }
    let parent = format!(
        "00-{}-{}-{:02x}",
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags().to_u8()
    );
    let state = span_context.trace_state().header();
    Some((parent, (!state.is_empty()).then_some(state)))
}

#[cfg(not(feature = "opentelemetry"))]
fn current() -> Option<(String, Option<String>)> {
    None
}
