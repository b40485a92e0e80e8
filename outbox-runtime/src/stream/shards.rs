//! Parent before child: which shards of a stream may be read now. DynamoDB splits a stream shard
//! (and closes one every few hours, opening a child); the records of an item are in order only
//! if a child is read after its parent has been read to its end. A shard is readable when it is
//! not finished and its parent is finished, or is no longer in the stream (trimmed after 24
//! hours), or it has none.

use std::collections::{HashMap, HashSet};

/// A shard as `DescribeStream` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShardInfo {
    /// Its id.
    pub(crate) id: String,
    /// The shard it was split from (or follows), if any.
    pub(crate) parent: Option<String>,
}

impl ShardInfo {
    #[cfg(test)]
    fn new(id: &str, parent: Option<&str>) -> Self {
        Self {
            id: id.to_owned(),
            parent: parent.map(str::to_owned),
        }
    }
}

/// The shards that may be read now, in the order listed: not finished, with a parent that is
/// finished, absent from the listing, or none.
pub(crate) fn readable<'a>(shards: &'a [ShardInfo], finished: &HashSet<String>) -> Vec<&'a str> {
    let listed: HashSet<&str> = shards.iter().map(|shard| shard.id.as_str()).collect();
    shards
        .iter()
        .filter(|shard| !finished.contains(&shard.id))
        .filter(|shard| match &shard.parent {
            None => true,
            Some(parent) => finished.contains(parent) || !listed.contains(parent.as_str()),
        })
        .map(|shard| shard.id.as_str())
        .collect()
}

/// For each shard listed, how many unfinished ancestors stand before it (0 for a readable
/// one); for logs and metrics of a relay that waits on a parent.
pub(crate) fn waiting_behind(shards: &[ShardInfo], finished: &HashSet<String>) -> usize {
    let parents: HashMap<&str, Option<&str>> = shards
        .iter()
        .map(|shard| (shard.id.as_str(), shard.parent.as_deref()))
        .collect();
    let ready: HashSet<&str> = readable(shards, finished).into_iter().collect();
    shards
        .iter()
        .filter(|shard| !finished.contains(&shard.id) && !ready.contains(shard.id.as_str()))
        .filter(|shard| parents.contains_key(shard.id.as_str()))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    #[test]
    fn a_child_waits_until_its_parent_is_finished() {
        // A rollover chain: A is read to its end, then B, then C.
        let shards = [
            ShardInfo::new("A", None),
            ShardInfo::new("B", Some("A")),
            ShardInfo::new("C", Some("B")),
        ];
        assert_eq!(readable(&shards, &done(&[])), ["A"]);
        assert_eq!(waiting_behind(&shards, &done(&[])), 2);
        assert_eq!(readable(&shards, &done(&["A"])), ["B"]);
        assert_eq!(readable(&shards, &done(&["A", "B"])), ["C"]);
        assert!(readable(&shards, &done(&["A", "B", "C"])).is_empty());
    }

    #[test]
    fn both_children_of_a_split_open_together_once_the_parent_is_done() {
        let shards = [
            ShardInfo::new("P", None),
            ShardInfo::new("L", Some("P")),
            ShardInfo::new("R", Some("P")),
            ShardInfo::new("LL", Some("L")),
        ];
        assert_eq!(readable(&shards, &done(&[])), ["P"]);
        assert_eq!(readable(&shards, &done(&["P"])), ["L", "R"]);
        assert_eq!(readable(&shards, &done(&["P", "R"])), ["L"]);
        assert_eq!(readable(&shards, &done(&["P", "L"])), ["R", "LL"]);
    }

    #[test]
    fn a_parent_trimmed_from_the_stream_does_not_block_its_child() {
        // After 24 hours the parent is gone from DescribeStream: its records are gone too.
        let shards = [
            ShardInfo::new("B", Some("A")),
            ShardInfo::new("C", Some("B")),
        ];
        assert_eq!(readable(&shards, &done(&[])), ["B"]);
    }

    #[test]
    fn independent_shards_are_read_at_once() {
        let shards = [
            ShardInfo::new("1", None),
            ShardInfo::new("2", None),
            ShardInfo::new("3", Some("1")),
        ];
        assert_eq!(readable(&shards, &done(&[])), ["1", "2"]);
        assert_eq!(readable(&shards, &done(&["1"])), ["2", "3"]);
    }
}
