//! Row cursors: where the next piece of work goes in a column group.

use halo2_proofs::plonk::Error;

/// Row cursors of `n` interchangeable lanes of equal height.
#[derive(Clone, Debug)]
pub struct Lanes {
    next: Vec<usize>,
    cap: usize,
    k: u32,
}

impl Lanes {
    /// `n` empty lanes of `cap` usable rows each (`k` is reported on overflow).
    pub fn new(n: usize, cap: usize, k: u32) -> Self {
        Lanes { next: vec![0; n.max(1)], cap, k }
    }

    /// Reserves `rows` rows in the least-filled lane; returns `(lane, first row)`.
    pub fn place(&mut self, rows: usize) -> Result<(usize, usize), Error> {
        let lane = (0..self.next.len()).min_by_key(|&i| self.next[i]).unwrap_or(0);
        Ok((lane, self.place_in(lane, rows)?))
    }

    /// Reserves `rows` rows in lane `lane`; returns the first.
    pub fn place_in(&mut self, lane: usize, rows: usize) -> Result<usize, Error> {
        let start = *self.next.get(lane).ok_or(Error::Synthesis)?;
        let end = start + rows;
        if end > self.cap {
            return Err(Error::NotEnoughRowsAvailable { current_k: self.k });
        }
        self.next[lane] = end;
        Ok(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_in_the_least_filled_lane_and_refuses_overflow() {
        let mut l = Lanes::new(2, 10, 4);
        assert_eq!(l.place(4).unwrap(), (0, 0));
        assert_eq!(l.place(3).unwrap(), (1, 0));
        assert_eq!(l.place(2).unwrap(), (1, 3));
        assert_eq!(l.place_in(0, 6).unwrap(), 4);
        assert!(matches!(l.place_in(0, 1), Err(Error::NotEnoughRowsAvailable { current_k: 4 })));
        assert!(l.place_in(2, 1).is_err(), "no lane 2");
    }
}
