//! BLAKE3's official test vectors (tests/vectors/external, from the BLAKE3
//! repository) hashed through otaseal's subtree-and-merge code at several
//! piece sizes: every piece split must give BLAKE3's own hash.

use otaseal::tree::root_by_pieces;

#[test]
fn official_vectors_through_subtree_merging() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/external/blake3_test_vectors.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    let max = cases
        .iter()
        .map(|c| c["input_len"].as_u64().unwrap())
        .max()
        .unwrap() as usize;
    let input: Vec<u8> = (0..max).map(|i| (i % 251) as u8).collect();
    for case in cases {
        let len = case["input_len"].as_u64().unwrap() as usize;
        // The vector's `hash` is extended output; the first 32 bytes are the hash.
        let expected = &case["hash"].as_str().unwrap()[..64];
        for piece in [1024, 2048, 4096, 8192, 16_384, 32_768] {
            assert_eq!(
                hex::encode(root_by_pieces(&input[..len], piece)),
                expected,
                "input_len {len}, piece {piece}"
            );
        }
    }
}
