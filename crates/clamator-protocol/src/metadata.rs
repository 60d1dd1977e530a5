//! Request metadata: short `name: value` pairs a caller sends beside the
//! envelope (an auth token, a tenant, a priority), for server middleware and
//! handlers to read.
//!
//! On Redis each pair travels as one extra stream field `meta-<name>`
//! (docs/WIRE.md §2): the envelope does not change, and peers that do not know
//! the field ignore it. The Python and TypeScript peers neither send nor read
//! metadata.

use std::fmt;

/// The prefix of the stream field that carries a metadata pair.
pub const FIELD_PREFIX: &str = "meta-";
/// At most this many pairs in one request; a reader keeps the first ones.
pub const MAX_ENTRIES: usize = 16;
/// The longest name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// The longest value, in bytes.
pub const MAX_VALUE_LEN: usize = 4096;

/// A name or value that cannot travel as metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The name is empty, too long, or has a character other than `a-z`,
    /// `0-9` and `-`.
    #[error(
        "invalid metadata name {name:?}: use 1 to {MAX_NAME_LEN} characters of a-z, 0-9 and '-'"
    )]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The value is longer than [`MAX_VALUE_LEN`] bytes.
    #[error(
        "the value of metadata {name:?} is {len} bytes; at most {MAX_VALUE_LEN} fit (send large \
         data in the params)"
    )]
    ValueTooLong {
        /// The name.
        name: String,
        /// The value's length in bytes.
        len: usize,
    },
    /// The value is the name of a stream field the peers look up by
    /// position (`type`, `envelope`, `reply-to`), which a peer scanning the
    /// entry could mistake for that field.
    #[error(
        "the value of metadata {name:?} is {value:?}, the name of a wire field; a peer could \
         mistake it for that field: send another value"
    )]
    ReservedValue {
        /// The name.
        name: String,
        /// The value.
        value: String,
    },
    /// More than [`MAX_ENTRIES`] pairs.
    #[error("more than {MAX_ENTRIES} metadata entries in one request")]
    TooMany,
}

/// Request metadata: up to [`MAX_ENTRIES`] `name: value` pairs, names unique,
/// in the order they were added.
///
/// Names are lowercase (`a-z`, `0-9`, `-`, as HTTP/2 header names), values
/// any UTF-8 text up to [`MAX_VALUE_LEN`] bytes. Empty metadata costs nothing
/// (no allocation, no stream field).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The pairs, in order; names unique.
    entries: Vec<(String, String)>,
}

impl fmt::Debug for Metadata {
    /// Names only: values are often secrets (tokens).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

impl Metadata {
    /// No metadata.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// Sets `name` to `value`, replacing an earlier value of `name`.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), MetadataError> {
        let (name, value) = (name.into(), value.into());
        check(&name, &value)?;
        if let Some(entry) = self.entries.iter_mut().find(|(n, _)| *n == name) {
            entry.1 = value;
        } else if self.entries.len() >= MAX_ENTRIES {
            return Err(MetadataError::TooMany);
        } else {
            self.entries.push((name, value));
        }
        Ok(())
    }

    /// [`insert`](Self::insert), by value, for building in one expression.
    pub fn with(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Metadata, MetadataError> {
        self.insert(name, value)?;
        Ok(self)
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Removes `name`; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let at = self.entries.iter().position(|(n, _)| n == name)?;
        Some(self.entries.remove(at).1)
    }

    /// The pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// How many pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds the pairs of `other` whose names are not here yet (those here win).
    pub fn merge_missing(&mut self, other: &Metadata) {
        for (name, value) in &other.entries {
            if self.entries.len() >= MAX_ENTRIES {
                break;
            }
            if self.get(name).is_none() {
                self.entries.push((name.clone(), value.clone()));
            }
        }
    }

    /// Reads one stream field as a transport received it: `Some(Ok(()))`
    /// when it was a valid `meta-<name>` pair (now added), `Some(Err(_))`
    /// when it was a `meta-` field that cannot be metadata (bad name, value
    /// too long or not UTF-8, a repeated name, one too many), `None` when
    /// the field is not metadata at all. What is not added is for the
    /// transport to log; the request still runs, without it.
    pub fn read_field(&mut self, field: &[u8], value: &[u8]) -> Option<Result<(), MetadataError>> {
        let name = field.strip_prefix(FIELD_PREFIX.as_bytes())?;
        let name = String::from_utf8_lossy(name);
        let Ok(value) = std::str::from_utf8(value) else {
            return Some(Err(MetadataError::InvalidName {
                name: format!("{name} (value not UTF-8)"),
            }));
        };
        if self.get(&name).is_some() {
            // The first occurrence wins, as for every repeated field.
            return Some(Ok(()));
        }
        Some(self.insert(name.into_owned(), value))
    }
}

/// Whether `name` and `value` may travel as metadata.
fn check(name: &str, value: &str) -> Result<(), MetadataError> {
    let name_ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(MetadataError::InvalidName {
            name: name.to_owned(),
        });
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(MetadataError::ValueTooLong {
            name: name.to_owned(),
            len: value.len(),
        });
    }
    if matches!(value, "type" | "envelope" | "reply-to") {
        return Err(MetadataError::ReservedValue {
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn names_values_and_limits_are_checked() {
        let mut m = Metadata::new();
        m.insert("authorization", "Bearer x").unwrap();
        m.insert("authorization", "Bearer y").unwrap();
        assert_eq!(m.get("authorization"), Some("Bearer y"));
        assert_eq!(m.len(), 1);
        for bad in ["", "Auth", "a b", "a_b", &"x".repeat(65)] {
            assert!(
                matches!(m.insert(bad, "v"), Err(MetadataError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            m.insert("big", "v".repeat(MAX_VALUE_LEN + 1)),
            Err(MetadataError::ValueTooLong { .. })
        ));
        for reserved in ["type", "envelope", "reply-to"] {
            assert!(matches!(
                m.insert("x", reserved),
                Err(MetadataError::ReservedValue { .. })
            ));
        }
        let mut full = Metadata::new();
        for i in 0..MAX_ENTRIES {
            full.insert(format!("k{i}"), "v").unwrap();
        }
        assert_eq!(full.insert("one-more", "v"), Err(MetadataError::TooMany));
        full.insert("k0", "replaced").unwrap();
        assert!(
            !format!("{full:?}").contains("replaced"),
            "Debug shows names only"
        );
    }

    #[test]
    fn fields_are_read_first_occurrence_wins_and_junk_is_refused() {
        let mut m = Metadata::new();
        assert!(m.read_field(b"envelope", b"{}").is_none());
        assert!(m.read_field(b"meta-tenant", b"a").unwrap().is_ok());
        assert!(m.read_field(b"meta-tenant", b"b").unwrap().is_ok());
        assert_eq!(m.get("tenant"), Some("a"));
        assert!(m.read_field(b"meta-Bad", b"x").unwrap().is_err());
        assert!(m.read_field(b"meta-bin", &[0xff, 0xfe]).unwrap().is_err());
        assert!(
            m.read_field(b"meta-big", &[b'v'; MAX_VALUE_LEN + 1])
                .unwrap()
                .is_err()
        );
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn merge_keeps_what_is_there() {
        let mut call = Metadata::new().with("a", "call").unwrap();
        let defaults = Metadata::new()
            .with("a", "default")
            .unwrap()
            .with("b", "d")
            .unwrap();
        call.merge_missing(&defaults);
        assert_eq!(call.iter().collect::<Vec<_>>(), [("a", "call"), ("b", "d")]);
    }
}
