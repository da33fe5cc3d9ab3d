//! A run's own records — an attack's configuration, what it observed, a defence's settings —
//! carried by the shared report without the report knowing their types.
//!
//! Each module declares the struct it reports (the attack's config, the family's
//! observations); the report holds it as [`Details`] and writes it with the struct's own
//! `Serialize`. A reader that knows the family gets the struct back with [`Details::get`],
//! so figures are read from typed fields, never looked up by name in a JSON tree. Only
//! details read back from a file an earlier run wrote are untyped ([`Recorded`]).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What a report can carry as details: any serialisable, shareable value of a declared type.
pub trait Detail: erased_serde::Serialize + fmt::Debug + Send + Sync + 'static {
    fn as_any(&self) -> &dyn Any;
}

impl<T: Serialize + fmt::Debug + Send + Sync + 'static> Detail for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

erased_serde::serialize_trait_object!(Detail);

/// One typed record of a run (see the module documentation).
#[derive(Clone)]
pub struct Details(Arc<dyn Detail>);

/// Details read back from a file an earlier run wrote (a model's manifest): kept as they
/// were written, since the reader cannot know the writer's type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Recorded(pub serde_json::Value);

impl Details {
    /// Wraps a module's declared record. A bare JSON value is not a declared record: in
    /// debug builds (the tests) passing one panics, so every producer states its type.
    pub fn new<T: Serialize + fmt::Debug + Send + Sync + 'static>(record: T) -> Self {
        debug_assert!(
            !(&record as &dyn Any).is::<serde_json::Value>(),
            "a run's details are a declared type, not a JSON value"
        );
        Details(Arc::new(record))
    }

    /// The record as the type its producer declared, when it is that type.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref::<T>()
    }

    /// The record as JSON, for comparing two records and for display.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Debug for Details {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Details {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl PartialEq for Details {
    fn eq(&self, other: &Self) -> bool {
        self.to_json() == other.to_json()
    }
}

impl Serialize for Details {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        erased_serde::serialize(self.0.as_ref(), s)
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(Details(Arc::new(Recorded(value))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize)]
    struct Steps {
        steps: usize,
    }

    #[test]
    fn a_record_serialises_as_itself_and_reads_back_typed() {
        let d = Details::new(Steps { steps: 7 });
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"steps":7}"#);
        assert_eq!(d.get::<Steps>().map(|s| s.steps), Some(7));
        assert!(d.get::<Recorded>().is_none());
    }

    #[test]
    fn details_read_from_a_file_are_recorded_as_written() {
        let d: Details = serde_json::from_str(r#"{"eps": 0.1}"#).unwrap();
        assert_eq!(d.get::<Recorded>().unwrap().0["eps"], 0.1);
        assert!(d.get::<Steps>().is_none());
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "declared type")]
    fn a_bare_json_value_is_refused() {
        let _ = Details::new(serde_json::json!({"eps": 0.1}));
    }
}
