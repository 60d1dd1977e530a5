//! [`StreamId`]: a stream entry id, `<ms>-<seq>`, parsed in one place for the
//! transport (deadlines, trimming) and its tools (the CLI's ages and ordering).

/// A stream entry id `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// The time part: ms since the epoch on Redis's clock.
    ms: u64,
    /// The sequence within that millisecond.
    seq: u64,
}

impl StreamId {
    /// `0-0`, below every entry.
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };

    /// Parses `<ms>-<seq>` (a bare `<ms>` means sequence 0); `None` for
    /// anything else.
    pub fn parse(s: &str) -> Option<StreamId> {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        Some(StreamId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// When the entry was added: ms since the epoch on Redis's clock.
    pub fn ms(self) -> u64 {
        self.ms
    }

    /// The sequence within the millisecond.
    pub fn seq(self) -> u64 {
        self.seq
    }

    /// The smallest id greater than this one.
    pub fn successor(self) -> StreamId {
        match self.seq.checked_add(1) {
            Some(seq) => StreamId { ms: self.ms, seq },
            None => StreamId {
                ms: self.ms.saturating_add(1),
                seq: 0,
            },
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_orders_and_prints_ids() {
        let a = StreamId::parse("1700000000000-5").unwrap();
        assert_eq!((a.ms(), a.seq()), (1_700_000_000_000, 5));
        assert_eq!(StreamId::parse("12").unwrap().to_string(), "12-0");
        assert!(StreamId::parse("1-2") < StreamId::parse("1-10"));
        assert!(StreamId::parse("2-0") > StreamId::parse("1-99"));
        assert_eq!(
            StreamId::parse(&format!("1-{}", u64::MAX))
                .unwrap()
                .successor(),
            StreamId::parse("2-0").unwrap()
        );
        for bad in ["", "x", "1-", "-1", "1-2-3", "1.5-0"] {
            assert_eq!(StreamId::parse(bad), None, "{bad}");
        }
    }
}
