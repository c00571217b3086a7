//! Group statistics: the second pass over a batch, once every completion of a group has its value,
//! and the group-relative advantages of the policy-gradient presets.

use rlx_compiler::plan::{Baseline, Scaling};

use crate::program::GroupStat;

/// The value of `stat` for each member of one group. `values` are the members' per-completion
/// values (empty when the statistic takes none), `tokens` their lengths in tokens (needed by the
/// length statistics). A value counts as passing when it is greater than 0 (`true` is 1).
pub fn statistic(stat: GroupStat, values: &[f64], tokens: &[i64], out: &mut [f64]) {
    let n = out.len();
    let passing = |i: usize| values.get(i).is_none_or(|v| *v > 0.0);
    let whole = match stat {
        GroupStat::Mean => mean(values),
        GroupStat::Std => std(values),
        GroupStat::Sum => values.iter().sum(),
        GroupStat::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        GroupStat::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        GroupStat::PassRate => values.iter().filter(|v| **v > 0.0).count() as f64 / n.max(1) as f64,
        GroupStat::Count => (0..n).filter(|&i| passing(i)).count() as f64,
        GroupStat::Size => n as f64,
        GroupStat::LooMean => {
            let sum: f64 = values.iter().sum();
            for (slot, v) in out.iter_mut().zip(values) {
                *slot = if n > 1 {
                    (sum - v) / (n - 1) as f64
                } else {
                    0.0
                };
            }
            return;
        }
        GroupStat::MinLength | GroupStat::MaxLength | GroupStat::MeanLength => {
            let lengths: Vec<f64> = (0..n)
                .filter(|&i| passing(i))
                .map(|i| tokens[i] as f64)
                .collect();
            if lengths.is_empty() {
                0.0
            } else {
                match stat {
                    GroupStat::MinLength => lengths.iter().copied().fold(f64::INFINITY, f64::min),
                    GroupStat::MaxLength => {
                        lengths.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    }
                    _ => mean(&lengths),
                }
            }
        }
    };
    out.fill(whole);
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// The sample standard deviation (n − 1 in the denominator, as `torch.std` in verl and TRL); 0 for
/// fewer than two values.
pub fn std(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let m = mean(values);
    (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1) as f64).sqrt()
}

/// Advantages `(r − baseline) / (scale + eps)` for rewards whose groups are given by `groups`
/// (completions of a group share a number): GRPO is `group_mean` / `group_std`, Dr.GRPO
/// `group_mean` / `no_scaling`, RLOO `leave_one_out` / `no_scaling`, REINFORCE++ `batch_mean` /
/// `batch_std`.
pub fn advantages(
    rewards: &[f64],
    groups: &[u64],
    baseline: Baseline,
    scale: Scaling,
    eps: f64,
) -> Vec<f64> {
    let members = members(groups);
    let mut baselines = vec![0.0; rewards.len()];
    let mut scales = vec![1.0; rewards.len()];
    let batch_mean = mean(rewards);
    for group in &members {
        let values: Vec<f64> = group.iter().map(|&i| rewards[i]).collect();
        let (m, s) = (mean(&values), std(&values));
        let n = values.len();
        let sum: f64 = values.iter().sum();
        for &i in group {
            baselines[i] = match baseline {
                Baseline::GroupMean => m,
                Baseline::LeaveOneOut if n > 1 => (sum - rewards[i]) / (n - 1) as f64,
                Baseline::LeaveOneOut => 0.0,
                Baseline::BatchMean => batch_mean,
                Baseline::None => 0.0,
            };
            scales[i] = match scale {
                Scaling::GroupStd => s + eps,
                Scaling::BatchStd => 1.0,
                Scaling::None => 1.0,
            };
        }
    }
    let centred: Vec<f64> = rewards.iter().zip(&baselines).map(|(r, b)| r - b).collect();
    if scale == Scaling::BatchStd {
        // The spread of the advantages themselves: with a group baseline it is not the rewards'.
        let batch_std = std(&centred) + eps;
        return centred.iter().map(|a| a / batch_std).collect();
    }
    centred.iter().zip(&scales).map(|(a, s)| a / s).collect()
}

/// The members of each group, groups in order of first appearance.
pub fn members(groups: &[u64]) -> Vec<Vec<usize>> {
    let mut index: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let at = *index.entry(*g).or_insert_with(|| {
            members.push(Vec::new());
            members.len() - 1
        });
        members[at].push(i);
    }
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(stat: GroupStat, values: &[f64], tokens: &[i64]) -> Vec<f64> {
        let mut out = vec![0.0; values.len().max(tokens.len())];
        statistic(stat, values, tokens, &mut out);
        out
    }

    #[test]
    fn statistics_by_hand() {
        let v = [1.0, 0.0, 1.0, 0.0];
        assert_eq!(stat(GroupStat::Mean, &v, &[])[0], 0.5);
        assert!((stat(GroupStat::Std, &v, &[])[0] - (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(stat(GroupStat::PassRate, &v, &[])[0], 0.5);
        assert_eq!(stat(GroupStat::Count, &v, &[])[0], 2.0);
        assert_eq!(
            stat(GroupStat::LooMean, &v, &[]),
            [1.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0]
        );
        let tokens = [10, 20, 30, 40];
        assert_eq!(stat(GroupStat::MinLength, &v, &tokens)[0], 10.0);
        assert_eq!(stat(GroupStat::MeanLength, &v, &tokens)[0], 20.0);
        assert_eq!(stat(GroupStat::MaxLength, &[], &tokens)[0], 40.0);
        assert_eq!(stat(GroupStat::MinLength, &[0.0, 0.0], &[5, 6])[0], 0.0);
        assert_eq!(stat(GroupStat::Std, &[3.0], &[])[0], 0.0);
    }

    #[test]
    fn preset_advantages() {
        let rewards = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let groups = [7, 7, 7, 9, 9, 9];
        let grpo = advantages(
            &rewards,
            &groups,
            Baseline::GroupMean,
            Scaling::GroupStd,
            0.0,
        );
        let s = (1.0f64 / 3.0).sqrt();
        assert!((grpo[0] - (1.0 / 3.0) / s).abs() < 1e-12);
        let rloo = advantages(&rewards, &groups, Baseline::LeaveOneOut, Scaling::None, 0.0);
        assert_eq!(rloo[1], -1.0);
        assert_eq!(rloo[3], 1.0);
        let dr = advantages(&rewards, &groups, Baseline::GroupMean, Scaling::None, 0.0);
        assert!((dr[4] + 1.0 / 3.0).abs() < 1e-12);
        let all_same = advantages(
            &[1.0, 1.0],
            &[0, 0],
            Baseline::GroupMean,
            Scaling::GroupStd,
            1e-6,
        );
        assert_eq!(all_same, [0.0, 0.0]);
    }
}
