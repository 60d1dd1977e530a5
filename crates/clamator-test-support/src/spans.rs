//! [`SpanRecorder`]: a `tracing` layer that keeps the name and fields of
//! every span, for tests that check what a call's span recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::Context;

/// One span as recorded: its name and its fields, as text.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// The span's name.
    pub name: &'static str,
    /// Its fields, as text (`Debug` for values that are not strings).
    pub fields: HashMap<String, String>,
}

impl Recorded {
    /// The field `field`, if recorded.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
}

/// A layer that keeps every span's name and fields (clones share them).
#[derive(Clone, Debug, Default)]
pub struct SpanRecorder {
    /// (span id, span), in creation order.
    spans: Arc<Mutex<Vec<(u64, Recorded)>>>,
}

/// Writes visited fields into a map.
struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanRecorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut rec = Recorded {
            name: attrs.metadata().name(),
            fields: HashMap::new(),
        };
        attrs.record(&mut Fields(&mut rec.fields));
        self.spans.lock().unwrap().push((id.into_u64(), rec));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        if let Some((_, rec)) = spans.iter_mut().rev().find(|(i, _)| *i == id.into_u64()) {
            values.record(&mut Fields(&mut rec.fields));
        }
    }
}

impl SpanRecorder {
    /// Every span named `name` recorded so far.
    pub fn named(&self, name: &str) -> Vec<Recorded> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, r)| r.name == name)
            .map(|(_, r)| r.clone())
            .collect()
    }
}
