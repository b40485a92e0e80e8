//! Which shard of the outstanding index a message lands on.
//!
//! The shard is `fnv1a_32(partition key as UTF-8) % shard_count`, computed on unsigned 32-bit
//! integers: the same key lands on the same shard on every platform and every release, which
//! per-key ordering depends on, and no shard is unreachable (a signed hash taken modulo a count
//! strands keys on negative shards). Messages without a key are spread by their id the same way.
//! The function is pinned by test vectors; changing it would reorder keyed messages in flight.

use crate::message::Message;

const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// 32-bit FNV-1a of `bytes`.
pub(crate) fn fnv1a_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(FNV_PRIME)
    })
}

/// The shard of a partition key among `shard_count` shards (at least 1).
///
/// ```
/// use outbox_runtime::table::shard_of_key;
/// assert_eq!(shard_of_key("Tyrion", 16), shard_of_key("Tyrion", 16));
/// assert!(shard_of_key("Tyrion", 16) < 16);
/// ```
pub fn shard_of_key(key: &str, shard_count: u16) -> u16 {
    let count = u32::from(shard_count.max(1));
    u16::try_from(fnv1a_32(key.as_bytes()) % count).expect("below a u16 shard count")
}

/// The shard of a message: by partition key when it has one, otherwise by id.
pub(crate) fn shard_of(message: &Message, shard_count: u16) -> u16 {
    match &message.header.partition_key {
        Some(key) => shard_of_key(key, shard_count),
        None => shard_of_key(message.header.id.as_str(), shard_count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published FNV-1a vectors and our own shard assignments: if one of these changes, keyed
    /// messages already in the table would move shard.
    #[test]
    fn pinned_vectors() {
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9c_f968);
        assert_eq!(shard_of_key("", 16), (0x811c_9dc5_u32 % 16) as u16);
        assert_eq!(shard_of_key("foobar", 16), (0xbf9c_f968_u32 % 16) as u16);
        assert_eq!(shard_of_key("foobar", 1), 0);
        // High-bit hashes must not go negative: 0xbf9cf968 has its top bit set.
        assert_eq!(
            shard_of_key("foobar", 1000),
            (0xbf9c_f968_u32 % 1000) as u16
        );
    }

    #[test]
    fn every_shard_is_reachable_and_keys_spread() {
        let mut counts = [0_u32; 16];
        for n in 0..16_000 {
            counts[usize::from(shard_of_key(&format!("customer-{n}"), 16))] += 1;
        }
        for (shard, count) in counts.iter().enumerate() {
            assert!(
                (700..1300).contains(count),
                "shard {shard} got {count} of 16000"
            );
        }
    }
}
