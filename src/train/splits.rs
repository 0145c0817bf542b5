//! How rows are divided for honest evaluation: the final held-out test split
//! (stratified, out-of-time, or grouped) and the cross-validation folds on
//! the training rows (stratified, or grouped so that no group is on both
//! sides).
//!
//! Every function is deterministic for a seed (ChaCha8), so a model can be
//! retrained bit for bit.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::scoring::time::{parse_timestamp, Timestamp};

/// Stratified split: the same share of positives and of negatives goes to the
/// test set, chosen by a seeded ChaCha8 shuffle. Returns sorted (train, test) indices.
pub fn stratified_split(
    labels: &[bool],
    test_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::new();
    let mut test = Vec::new();
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        let n_test = ((idx.len() as f64) * test_fraction).round() as usize;
        let n_test = n_test.clamp(1, idx.len().saturating_sub(1).max(1));
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Out-of-time split: rows ordered by `times` (ties keep file order), the most
/// recent `test_fraction` of rows is the test set. Returns sorted indices.
pub fn time_split(times: &[TimeKey], test_fraction: f64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[a].cmp(&times[b]).then(a.cmp(&b)));
    let n_test = ((times.len() as f64) * test_fraction).round() as usize;
    let n_test = n_test.clamp(1, times.len().saturating_sub(1).max(1));
    let cut = times.len() - n_test;
    let mut train = order[..cut].to_vec();
    let mut test = order[cut..].to_vec();
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// A sortable point in time: a number (e.g. epoch seconds, a day index) or a
/// date / timestamp read by [`crate::scoring::time::parse_timestamp`].
/// Numbers sort before timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimeKey {
    /// A numeric column, ordered by `f64::total_cmp`.
    Number(OrderedNumber),
    /// A date or timestamp.
    Instant(Timestamp),
}

/// An `f64` with a total order, for [`TimeKey::Number`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderedNumber(pub f64);

impl Eq for OrderedNumber {}

impl PartialOrd for OrderedNumber {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedNumber {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Parses one time cell: a finite number, or a date / timestamp in any form
/// [`parse_timestamp`] reads. `None` for anything else.
pub fn parse_time(cell: &str) -> Option<TimeKey> {
    let t = cell.trim();
    if let Ok(x) = t.parse::<f64>() {
        return x.is_finite().then_some(TimeKey::Number(OrderedNumber(x)));
    }
    parse_timestamp(t).ok().map(TimeKey::Instant)
}

/// Grouped split: whole groups go to the test set (seeded shuffle of the
/// distinct groups) until it holds at least `test_fraction` of the rows, so no
/// group is on both sides. Returns sorted (train, test) indices.
pub fn group_split(groups: &[String], test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let (ids, members) = group_members(groups);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..ids).collect();
    order.shuffle(&mut rng);
    let wanted = ((groups.len() as f64) * test_fraction).round() as usize;
    let mut test = Vec::new();
    let mut train = Vec::new();
    for (k, &g) in order.iter().enumerate() {
        // Keep at least one group for training.
        if test.len() < wanted && k + 1 < order.len() {
            test.extend_from_slice(&members[g]);
        } else {
            train.extend_from_slice(&members[g]);
        }
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Stratified k-fold over `labels`: each fold gets the same share of each
/// class. Returns the validation indices of each fold (sorted).
pub fn stratified_folds(labels: &[bool], k: usize, seed: u64) -> Vec<Vec<usize>> {
    let k = k.max(2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_f01d);
    let mut folds = vec![Vec::new(); k];
    let mut next = 0;
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        for i in idx {
            folds[next % k].push(i);
            next += 1;
        }
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    folds
}

/// Grouped k-fold: groups (shuffled with the seed, largest first) go to the
/// fold with the fewest rows so far, so folds are balanced in rows and no
/// group is in two folds. Returns the validation indices of each fold.
pub fn group_folds(groups: &[String], k: usize, seed: u64) -> Vec<Vec<usize>> {
    let k = k.max(2);
    let (ids, members) = group_members(groups);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_f01d);
    let mut order: Vec<usize> = (0..ids).collect();
    order.shuffle(&mut rng);
    // Stable sort keeps the shuffled order among equal sizes.
    order.sort_by_key(|&g| std::cmp::Reverse(members[g].len()));
    let mut folds = vec![Vec::new(); k];
    for g in order {
        let smallest = (0..k).min_by_key(|&f| folds[f].len()).unwrap_or(0);
        folds[smallest].extend_from_slice(&members[g]);
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    folds.retain(|f| !f.is_empty());
    folds
}

/// Distinct groups in first-seen order, and the rows of each.
fn group_members(groups: &[String]) -> (usize, Vec<Vec<usize>>) {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let id = *index.entry(g.as_str()).or_insert_with(|| {
            members.push(Vec::new());
            members.len() - 1
        });
        members[id].push(i);
    }
    (members.len(), members)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn stratified_split_is_stratified_and_reproducible() {
        let labels: Vec<bool> = (0..1000).map(|i| i % 4 == 0).collect();
        let (train, test) = stratified_split(&labels, 0.2, 7);
        assert_eq!(test.len(), 200);
        assert_eq!(test.iter().filter(|&&i| labels[i]).count(), 50);
        assert_eq!(train.len() + test.len(), 1000);
        assert_eq!(stratified_split(&labels, 0.2, 7), (train, test.clone()));
        assert_ne!(stratified_split(&labels, 0.2, 8).1, test);
    }

    #[test]
    fn time_split_tests_on_the_most_recent_rows() {
        let cells = [
            "2024-01-05",
            "2024-03-01 10:00",
            "2023-12-31",
            "2024-02-10T08:00:00Z",
            "2024-01-20",
        ];
        let times: Vec<TimeKey> = cells.iter().map(|c| parse_time(c).expect("time")).collect();
        let (train, test) = time_split(&times, 0.4);
        assert_eq!(test, vec![1, 3]);
        assert_eq!(train, vec![0, 2, 4]);
        assert_eq!(
            parse_time("12.5"),
            Some(TimeKey::Number(OrderedNumber(12.5)))
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2024-1-5"), None);
    }

    #[test]
    fn group_split_keeps_groups_whole() {
        let groups: Vec<String> = (0..500).map(|i| format!("acct{}", i % 37)).collect();
        let (train, test) = group_split(&groups, 0.2, 3);
        let a: HashSet<&String> = train.iter().map(|&i| &groups[i]).collect();
        let b: HashSet<&String> = test.iter().map(|&i| &groups[i]).collect();
        assert!(a.is_disjoint(&b));
        assert_eq!(train.len() + test.len(), 500);
        assert!(test.len() >= 100 && test.len() < 130, "{}", test.len());
    }

    #[test]
    fn folds_partition_the_rows() {
        let labels: Vec<bool> = (0..103).map(|i| i % 3 == 0).collect();
        let folds = stratified_folds(&labels, 5, 1);
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
        for f in &folds {
            let pos = f.iter().filter(|&&i| labels[i]).count();
            assert!((6..=8).contains(&pos), "{pos}");
        }
        let groups: Vec<String> = (0..103).map(|i| format!("g{}", i % 11)).collect();
        let folds = group_folds(&groups, 5, 1);
        assert_eq!(folds.len(), 5);
        for (x, f) in folds.iter().enumerate() {
            for g in f.iter().map(|&i| &groups[i]) {
                for other in folds.iter().skip(x + 1) {
                    assert!(other.iter().all(|&i| &groups[i] != g));
                }
            }
        }
    }
}
