//! Length terms of the seed recipes.

/// DAPO's soft overlong punishment: 0 up to `max − cache` tokens, then linear down to −1 at `max`,
/// and −1 beyond.
pub fn overlong_penalty(length: i64, max: i64, cache: i64) -> f64 {
    let free = max - cache;
    if length <= free {
        0.0
    } else if length <= max && cache > 0 {
        (free - length) as f64 / cache as f64
    } else {
        -1.0
    }
}

/// A cosine length reward: `short` at length 0, easing to `long` at `target` and held beyond:
/// `long + (short − long)·(1 + cos(π·L/target))/2`.
pub fn cosine_length(length: i64, target: i64, short: f64, long: f64) -> f64 {
    if target <= 0 || length >= target {
        return long;
    }
    let progress = length.max(0) as f64 / target as f64;
    long + (short - long) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dapo_overlong_penalty() {
        // L_max = 20480, L_cache = 4096 as in the paper.
        assert_eq!(overlong_penalty(16_384, 20_480, 4_096), 0.0);
        assert_eq!(overlong_penalty(18_432, 20_480, 4_096), -0.5);
        assert_eq!(overlong_penalty(20_480, 20_480, 4_096), -1.0);
        assert_eq!(overlong_penalty(30_000, 20_480, 4_096), -1.0);
    }

    #[test]
    fn vl_cogito_length_term_for_wrong_answers() {
        // −0.25·(1 + cos(πL/T)) for L < T: short = −0.5, long = 0.
        assert!((cosine_length(0, 750, -0.5, 0.0) + 0.5).abs() < 1e-12);
        assert!((cosine_length(375, 750, -0.5, 0.0) + 0.25).abs() < 1e-12);
        assert_eq!(cosine_length(800, 750, -0.5, 0.0), 0.0);
    }
}
