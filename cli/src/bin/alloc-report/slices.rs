//! Time slices that double in width as a run turns out longer: the series
//! of the timeline and heap charts stay a fixed size whatever the run's length.

/// Halves the number of slices: each pair of neighbours becomes one, the
/// second merged into the first by `merge`; a last odd slice stays as it is.
pub fn merge_pairs<T>(slices: &mut Vec<T>, mut merge: impl FnMut(&mut T, T)) {
    let mut old = std::mem::take(slices).into_iter();
    while let Some(mut first) = old.next() {
        if let Some(second) = old.next() {
            merge(&mut first, second);
        }
        slices.push(first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_merge_in_pairs_and_a_last_odd_one_stays() {
        let mut slices = vec![1, 2, 3, 4, 5];
        merge_pairs(&mut slices, |first, second| *first += second);
        assert_eq!(slices, [3, 7, 5]);
    }
}
