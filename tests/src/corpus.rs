//! Fixed bodies for the compression tests and benchmarks: the same bytes in every run, so that
//! what they compress to, and the units they cost, can be asserted.
//!
//! A padded greeting (`"xxxx…"`) compresses a hundredfold and would flatter compression; these
//! are what services send: JSON order documents whose ids, names, prices and times vary as real
//! ones do, and random bytes that no codec shrinks.

/// Words the documents draw their product names and addresses from.
const WORDS: &[&str] = &[
    "blue", "cotton", "shirt", "linen", "trousers", "wool", "scarf", "leather", "boots", "green",
    "canvas", "bag", "silver", "ring", "oak", "table", "lamp", "glass", "vase", "steel", "kettle",
    "paper", "notebook", "ceramic", "mug", "street", "road", "avenue", "north", "harbour", "hill",
];

/// A JSON document of exactly `bytes` bytes (at least 200): an order with as many lines as fit,
/// padded with spaces at the end (valid JSON whitespace). `seed` picks the content; the same
/// seed and size give the same bytes.
///
/// # Panics
/// When `bytes` is under 200.
pub fn json_document(bytes: usize, seed: u64) -> Vec<u8> {
    assert!(bytes >= 200, "a document needs at least 200 bytes");
    let mut rng = fastrand::Rng::with_seed(seed);
    let word = |rng: &mut fastrand::Rng| WORDS[rng.usize(..WORDS.len())];
    let head = format!(
        "{{\"orderId\":\"ord-{:08}\",\"customer\":{{\"id\":\"cus-{:06}\",\"name\":\"{} {}\",\
         \"address\":\"{} {} {}\"}},\"placedAt\":\"2026-{:02}-{:02}T{:02}:{:02}:{:02}Z\",\"lines\":[",
        rng.u32(..100_000_000),
        rng.u32(..1_000_000),
        word(&mut rng),
        word(&mut rng),
        rng.u16(1..400),
        word(&mut rng),
        word(&mut rng),
        rng.u8(1..13),
        rng.u8(1..29),
        rng.u8(..24),
        rng.u8(..60),
        rng.u8(..60),
    );
    let tail = "]}";
    let mut document = head;
    let mut first = true;
    loop {
        let line = format!(
            "{}{{\"sku\":\"SKU-{:05}\",\"name\":\"{} {} {}\",\"quantity\":{},\"unitPrice\":\"{}.{:02}\",\
             \"currency\":\"EUR\",\"warehouse\":\"{}\"}}",
            if first { "" } else { "," },
            rng.u32(..100_000),
            word(&mut rng),
            word(&mut rng),
            word(&mut rng),
            rng.u8(1..10),
            rng.u16(1..500),
            rng.u8(..100),
            word(&mut rng),
        );
        if document.len() + line.len() + tail.len() > bytes {
            break;
        }
        document.push_str(&line);
        first = false;
    }
    document.push_str(tail);
    document.extend(std::iter::repeat_n(' ', bytes - document.len()));
    document.into_bytes()
}

/// `bytes` random bytes (seeded): what an encrypted or already compressed body looks like.
pub fn incompressible(bytes: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..bytes).map(|_| rng.u8(..)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_valid_json_of_the_size_asked_and_the_same_each_time() {
        for bytes in [200, 1024, 10 * 1024, 1 << 20] {
            let document = json_document(bytes, 1);
            assert_eq!(document.len(), bytes);
            serde_json::from_slice::<serde_json::Value>(&document).expect("valid JSON");
            assert_eq!(document, json_document(bytes, 1));
        }
        assert_ne!(json_document(1024, 1), json_document(1024, 2));
    }
}
