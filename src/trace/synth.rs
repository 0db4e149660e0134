//! Prompt synthesis from block ids.
//!
//! Tokeniser approximation: a prompt of `b` bytes counts `ceil(b / 4)` tokens, as
//! agentbench's stubs count it ([`crate::stub::CapacityModel::prompt_tokens`]). A
//! block of `block_tokens` tokens is therefore `4 × block_tokens` bytes of ASCII
//! text, and a prompt of `input_tokens` tokens is exactly `4 × input_tokens`
//! bytes: its length under the approximation is exactly `input_tokens` (the
//! contract allows ±1 token; the synthesis is exact).
//!
//! Each block's text is a function of its id alone: `{id:016x}:` then words drawn
//! from [`crate::rng::SplitMix64`] seeded with the id. A partial last block is a
//! prefix of the id's full block. So two prompts whose first `j` ids are equal
//! share their first `j` full blocks byte for byte, and where their next ids
//! differ the texts differ within that block's first 16 bytes (the hex id).

use crate::rng::SplitMix64;

/// Bytes per token under the approximation.
pub const BYTES_PER_TOKEN: u64 = 4;

/// Mixed into a block id to seed its words (so that block texts do not follow
/// other seeded streams of the crate).
const SEED_SALT: u64 = 0x7472_6163_655f_626c; // "trace_bl"

const WORDS: &[&str] = &[
    "the", "agent", "reads", "file", "and", "calls", "tool", "with", "result", "of", "query",
    "table", "rows", "column", "value", "error", "fix", "test", "build", "report", "plan", "step",
    "next", "check", "code", "function", "returns", "list", "map", "key", "index", "range",
    "total", "count", "sum", "mean", "latency", "server", "client", "request", "response", "token",
    "cache", "prefix", "block", "context", "session", "turn", "think", "output", "input", "model",
    "prompt", "answer", "line", "field", "name", "path", "commit", "branch", "merge", "diff",
    "patch", "review",
];

/// The full text of block `id`: exactly `4 × block_tokens` ASCII bytes, a fixed
/// function of `(id, block_tokens)`; for a smaller `block_tokens` it is a prefix
/// of the larger one's.
pub fn block_text(id: u64, block_tokens: u32) -> String {
    let len = (u64::from(block_tokens) * BYTES_PER_TOKEN) as usize;
    let mut text = String::with_capacity(len + 16);
    text.push_str(&format!("{id:016x}:"));
    let mut rng = SplitMix64::new(id ^ SEED_SALT);
    while text.len() < len {
        text.push(' ');
        let word: &&str = rng.pick(WORDS);
        text.push_str(word);
    }
    text.truncate(len);
    text
}

/// The prompt for a request of `input_tokens` tokens with block ids `hash_ids`:
/// block `i` (tokens `i·B .. min((i+1)·B, input_tokens)`) is the start of
/// [`block_text`]`(hash_ids[i])`, so the text is exactly `4 × input_tokens` bytes.
///
/// Returns `None` when `hash_ids.len() != ceil(input_tokens / block_tokens)` or
/// `block_tokens` is 0 (the importers never let such a request through).
pub fn synth_prompt(hash_ids: &[u64], input_tokens: u64, block_tokens: u32) -> Option<String> {
    if block_tokens == 0 || hash_ids.len() as u64 != super::blocks_for(input_tokens, block_tokens) {
        return None;
    }
    let total = input_tokens.checked_mul(BYTES_PER_TOKEN)? as usize;
    let mut prompt = String::with_capacity(total);
    for &id in hash_ids {
        let block = block_text(id, block_tokens);
        let take = block.len().min(total - prompt.len());
        prompt.push_str(&block[..take]);
    }
    Some(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stub::CapacityModel;

    #[test]
    fn the_length_is_exact_under_the_approximation() {
        for input in [1, 3, 511, 512, 513, 2000] {
            let ids: Vec<u64> = (0..super::super::blocks_for(input, 512)).collect();
            let p = synth_prompt(&ids, input, 512).unwrap();
            assert_eq!(p.len() as u64, 4 * input);
            assert_eq!(CapacityModel::prompt_tokens(p.len() as u64), input);
        }
    }

    #[test]
    fn a_block_is_a_function_of_its_id_only() {
        assert_eq!(block_text(7, 16), block_text(7, 16));
        assert_ne!(block_text(7, 16), block_text(8, 16));
        assert!(block_text(7, 64).starts_with(&block_text(7, 16)));
        assert!(block_text(u64::MAX, 1).is_ascii());
    }

    #[test]
    fn a_wrong_block_count_is_refused() {
        assert_eq!(synth_prompt(&[1], 600, 512), None);
        assert_eq!(synth_prompt(&[1, 2], 10, 0), None);
    }
}
