//! The arithmetic of benchmark figures: nearest-rank percentiles, empirical CDFs, rates and a small
//! deterministic random generator. Pure functions, unit-tested, so the tables can be trusted.

use serde::{Deserialize, Serialize};

/// Percentiles of a sample, in the sample's unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values.
    pub count: usize,
    /// Smallest value.
    pub min: f64,
    /// 50th percentile (nearest rank).
    pub p50: f64,
    /// 90th percentile (nearest rank).
    pub p90: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Summary {
    /// The summary of `values` (any order); `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let sorted = sorted(values);
        let (&min, &max) = (sorted.first()?, sorted.last()?);
        Some(Self {
            count: sorted.len(),
            min,
            p50: percentile(&sorted, 50.0)?,
            p90: percentile(&sorted, 90.0)?,
            p99: percentile(&sorted, 99.0)?,
            max,
            mean: sorted.iter().sum::<f64>() / count_f64(sorted.len()),
        })
    }
}

/// `values` sorted ascending (NaNs last).
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut out = values.to_vec();
    out.sort_by(f64::total_cmp);
    out
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of ascending `sorted` values: the smallest value
/// with at least p% of the values at or below it. `None` for an empty sample or p out of range.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let rank = (p / 100.0 * count_f64(sorted.len())).ceil();
    // rank is in 1..=len: p > 0 makes it ≥ 1 (ceil of a positive number), p ≤ 100 keeps it ≤ len.
    let index = rank_to_index(rank, sorted.len());
    sorted.get(index).copied()
}

fn rank_to_index(rank: f64, len: usize) -> usize {
    let mut index = 0;
    // Counting instead of an `as` cast: ranks are small, and this cannot truncate silently.
    while index + 1 < len && count_f64(index + 1) < rank {
        index += 1;
    }
    index
}

/// `n` as f64 (exact below 2^53, which every count here is).
pub fn count_f64(n: usize) -> f64 {
    u32::try_from(n).map_or_else(|_| f64::from(u32::MAX), f64::from)
}

/// A point of an empirical CDF: `fraction` of the values are ≤ `value`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CdfPoint {
    /// The value.
    pub value: f64,
    /// Fraction of the sample at or below it, in (0, 1].
    pub fraction: f64,
}

/// The empirical CDF of `values`, with at most `max_points` points (evenly spaced in rank; the
/// largest value is always the last point, at fraction 1).
pub fn cdf(values: &[f64], max_points: usize) -> Vec<CdfPoint> {
    let sorted = sorted(values);
    let n = sorted.len();
    if n == 0 || max_points == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(max_points).max(1);
    let mut out: Vec<CdfPoint> = (step - 1..n)
        .step_by(step)
        .map(|i| CdfPoint {
            value: sorted[i],
            fraction: count_f64(i + 1) / count_f64(n),
        })
        .collect();
    if out.last().is_none_or(|p| p.fraction < 1.0) {
        out.push(CdfPoint {
            value: sorted[n - 1],
            fraction: 1.0,
        });
    }
    out
}

/// `count` per `seconds`, 0 for an empty interval.
pub fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count_f64(usize::try_from(count).unwrap_or(usize::MAX)) / seconds
    } else {
        0.0
    }
}

/// SplitMix64: a small deterministic generator, so a soak run is repeatable from its seed.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0; 0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        if n64 == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % n64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let hundred = sorted(&values);
        assert_eq!(percentile(&hundred, 50.0), Some(50.0));
        assert_eq!(percentile(&hundred, 90.0), Some(90.0));
        assert_eq!(percentile(&hundred, 99.0), Some(99.0));
        assert_eq!(percentile(&hundred, 100.0), Some(100.0));
        assert_eq!(percentile(&hundred, 0.5), Some(1.0));
        assert_eq!(percentile(&hundred, 0.0), None);
        assert_eq!(percentile(&[], 50.0), None);
        // Ten values: p99 is the largest, p50 the fifth.
        let ten = sorted(&[10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]);
        assert_eq!(percentile(&ten, 50.0), Some(5.0));
        assert_eq!(percentile(&ten, 99.0), Some(10.0));
        assert_eq!(percentile(&[7.0], 1.0), Some(7.0));
    }

    #[test]
    fn summary_of_an_unsorted_sample() {
        let s = Summary::of(&[3.0, 1.0, 2.0, 4.0]).unwrap();
        assert_eq!(s.count, 4);
        assert_eq!(
            (s.min, s.p50, s.p90, s.p99, s.max),
            (1.0, 2.0, 4.0, 4.0, 4.0)
        );
        assert!((s.mean - 2.5).abs() < 1e-12);
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn cdf_is_monotone_and_ends_at_one() {
        let values: Vec<f64> = (0..1000).rev().map(f64::from).collect();
        let points = cdf(&values, 100);
        assert!(points.len() <= 101, "{}", points.len());
        assert!(points.windows(2).all(|w| w[0].value <= w[1].value));
        assert!(points.windows(2).all(|w| w[0].fraction < w[1].fraction));
        let last = points.last().unwrap();
        assert_eq!((last.value, last.fraction), (999.0, 1.0));
        assert_eq!(points[0].value, 9.0);
        assert!((points[0].fraction - 0.01).abs() < 1e-12);
        // Fewer values than points: one point per value.
        let small = cdf(&[2.0, 1.0], 100);
        assert_eq!(small.len(), 2);
        assert_eq!((small[0].value, small[0].fraction), (1.0, 0.5));
        assert!(cdf(&[], 10).is_empty());
    }

    #[test]
    fn rates_and_random_numbers() {
        assert!((rate(500, 2.0) - 250.0).abs() < 1e-12);
        assert_eq!(rate(5, 0.0), 0.0);
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<usize> = (0..50).map(|_| a.below(5)).collect();
        let ys: Vec<usize> = (0..50).map(|_| b.below(5)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 5));
        assert!((0..5).all(|v| xs.contains(&v)), "{xs:?}");
        assert_eq!(a.below(0), 0);
    }
}
