//! The one deadline-bounded loop over a batch of rows, used by every
//! protocol's scoring path (leadscore.v1 and the Open Inference Protocol).
//!
//! A batch may be large (thousands of leads) and a request has a deadline;
//! checking the clock for every row costs more than scoring a logistic row,
//! so the loop checks it every [`DEADLINE_CHECK_EVERY`] rows.

use std::time::Instant;

/// How many rows are scored between two deadline checks.
pub const DEADLINE_CHECK_EVERY: usize = 64;

/// The instant by which a request must be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// True once the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// Why a batch stopped early.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError<E> {
    /// The deadline passed after `done` of `total` rows.
    #[error("deadline exceeded after {done} of {total} rows")]
    DeadlineExceeded {
        /// Rows finished before the deadline.
        done: usize,
        /// Rows in the batch.
        total: usize,
    },
    /// Row `index` failed.
    #[error("row {index}: {error}")]
    Row {
        /// The failed row's index in the batch.
        index: usize,
        /// Its error.
        error: E,
    },
}

impl<E> BatchError<E> {
    /// The same error with a row's error mapped by `f` (given the row's
    /// index); a deadline stays as it is.
    pub fn map_row<F>(self, f: impl FnOnce(usize, E) -> F) -> BatchError<F> {
        match self {
            BatchError::DeadlineExceeded { done, total } => {
                BatchError::DeadlineExceeded { done, total }
            }
            BatchError::Row { index, error } => BatchError::Row {
                index,
                error: f(index, error),
            },
        }
    }
}

/// Applies `f` to rows `0..total` in order and collects the results,
/// stopping at the first row error or once `deadline` has passed (checked
/// before row 0 and then every [`DEADLINE_CHECK_EVERY`] rows).
///
/// # Errors
/// [`BatchError::DeadlineExceeded`] or the first [`BatchError::Row`].
pub fn map_rows_until<T, E>(
    total: usize,
    deadline: Option<Deadline>,
    mut f: impl FnMut(usize) -> Result<T, E>,
) -> Result<Vec<T>, BatchError<E>> {
    let mut out = Vec::with_capacity(total);
    for index in 0..total {
        if index % DEADLINE_CHECK_EVERY == 0 && deadline.is_some_and(|d| d.expired()) {
            return Err(BatchError::DeadlineExceeded { done: index, total });
        }
        out.push(f(index).map_err(|error| BatchError::Row { index, error })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_row_is_mapped_in_order() {
        let out: Result<Vec<usize>, BatchError<String>> = map_rows_until(200, None, |i| Ok(i * 2));
        assert_eq!(
            out.expect("mapped"),
            (0..200).map(|i| i * 2).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_first_row_error_names_its_row() {
        let out = map_rows_until(10, None, |i| if i == 7 { Err("bad") } else { Ok(i) });
        assert_eq!(
            out,
            Err(BatchError::Row {
                index: 7,
                error: "bad"
            })
        );
    }

    #[test]
    fn a_passed_deadline_stops_at_a_check_point() {
        let past = Deadline(Instant::now() - Duration::from_millis(1));
        let out: Result<Vec<usize>, BatchError<()>> = map_rows_until(500, Some(past), Ok);
        assert_eq!(
            out,
            Err(BatchError::DeadlineExceeded {
                done: 0,
                total: 500
            })
        );
        let soon = Deadline(Instant::now() + Duration::from_secs(3600));
        assert_eq!(
            map_rows_until::<_, ()>(3, Some(soon), Ok).map(|v| v.len()),
            Ok(3)
        );
    }
}
