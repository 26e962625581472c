//! US dollars per million tokens (prompt, completion) of well-known
//! models, for `usage.cost` and `budget_usd`. A model not listed costs 0:
//! local and self-hosted models, or prices this list does not know.

use ice_orchestrator::llm::Usage;

/// (model name prefix, prompt $/Mtok, completion $/Mtok); the longest
/// matching prefix wins.
const PRICES: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("o3-mini", 1.10, 4.40),
    ("deepseek-chat", 0.27, 1.10),
    ("deepseek-reasoner", 0.55, 2.19),
];

/// What `usage` of `model` costs.
pub fn cost(model: &str, usage: &Usage) -> f64 {
    PRICES
        .iter()
        .filter(|(prefix, _, _)| model.starts_with(prefix))
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map_or(0.0, |(_, prompt, completion)| {
            (usage.prompt_tokens as f64 * prompt + usage.completion_tokens as f64 * completion)
                / 1e6
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_prices_a_model() {
        let usage = Usage {
            prompt_tokens: 1_000_000,
            completion_tokens: 1_000_000,
            total_tokens: 2_000_000,
            cost: 0.0,
        };
        assert_eq!(cost("gpt-4o-mini-2024-07-18", &usage), 0.75);
        assert_eq!(cost("gpt-4o", &usage), 12.5);
        assert_eq!(cost("llama3", &usage), 0.0);
    }
}
