//! Row cursors: where the next piece of work goes in a column group.

use std::ops::Range;

use halo2_proofs::plonk::Error;

/// Row cursors of interchangeable lanes, each with its own range of rows; a lane may keep
/// its last rows for work placed in it by name ([`Lanes::reserve_tail`]).
#[derive(Clone, Debug)]
pub struct Lanes {
    next: Vec<usize>,
    /// Where [`Lanes::place_in`] stops.
    end: Vec<usize>,
    /// Where [`Lanes::place`] stops (`end` less the reserved tail).
    open_end: Vec<usize>,
    /// The next free row of a lane's reserved tail, which only [`Lanes::place_in`] fills.
    tail: Vec<Option<usize>>,
    k: u32,
}

impl Lanes {
    /// `n` empty lanes of `cap` usable rows each (`k` is reported on overflow).
    pub fn new(n: usize, cap: usize, k: u32) -> Self {
        Self::with_ranges(vec![0..cap; n.max(1)], k)
    }

    /// One empty lane per range of rows.
    pub fn with_ranges(ranges: Vec<Range<usize>>, k: u32) -> Self {
        Lanes {
            next: ranges.iter().map(|r| r.start).collect(),
            end: ranges.iter().map(|r| r.end).collect(),
            open_end: ranges.iter().map(|r| r.end).collect(),
            tail: vec![None; ranges.len()],
            k,
        }
    }

    /// Keeps the last `rows` rows of `lane` for [`Lanes::place_in`]: [`Lanes::place`] does
    /// not use them, and `place_in` fills them from their first row, whatever the open rows
    /// above them still hold.
    pub fn reserve_tail(&mut self, lane: usize, rows: usize) {
        if let (Some(open), Some(&end), Some(tail)) =
            (self.open_end.get_mut(lane), self.end.get(lane), self.tail.get_mut(lane))
        {
            *open = end.saturating_sub(rows);
            *tail = Some(*open);
        }
    }

    /// Reserves `rows` rows in the lane with the most unreserved room (the first of
    /// equals); returns `(lane, first row)`.
    pub fn place(&mut self, rows: usize) -> Result<(usize, usize), Error> {
        let room = |i: usize| self.open_end[i].saturating_sub(self.next[i]);
        let lane = (0..self.next.len()).rev().max_by_key(|&i| room(i)).unwrap_or(0);
        if room(lane) < rows {
            return Err(Error::NotEnoughRowsAvailable { current_k: self.k });
        }
        let start = self.next[lane];
        self.next[lane] = start + rows;
        Ok((lane, start))
    }

    /// Reserves `rows` rows in lane `lane` (in its reserved tail, if it has one); returns the
    /// first.
    pub fn place_in(&mut self, lane: usize, rows: usize) -> Result<usize, Error> {
        let cursor = match self
            .tail
            .get_mut(lane)
            .ok_or_else(|| crate::failure::internal(crate::failure::Chip::Block, "no such lane"))?
        {
            Some(tail) => tail,
            None => &mut self.next[lane],
        };
        let start = *cursor;
        let end = start + rows;
        if end > self.end[lane] {
            return Err(Error::NotEnoughRowsAvailable { current_k: self.k });
        }
        *cursor = end;
        Ok(start)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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

    #[test]
    fn lanes_of_other_ranges_fill_by_room_and_keep_reserved_tails() {
        // Lane 0: rows 0..10 with its last 4 reserved; lane 1: rows 6..10.
        let mut l = Lanes::with_ranges(vec![0..10, 6..10], 4);
        l.reserve_tail(0, 4);
        assert_eq!(l.place(3).unwrap(), (0, 0), "lane 0 has 6 open rows, lane 1 4");
        assert_eq!(l.place(2).unwrap(), (1, 6));
        assert_eq!(l.place(2).unwrap(), (0, 3));
        assert_eq!(l.place(1).unwrap(), (1, 8));
        assert_eq!(l.place(1).unwrap(), (0, 5), "equal room: the first lane");
        assert_eq!(l.place(1).unwrap(), (1, 9));
        assert!(l.place(1).is_err(), "only lane 0's reserved tail is left");
        assert_eq!(l.place_in(0, 4).unwrap(), 6);
        assert!(l.place_in(0, 1).is_err());
    }

    /// Work placed by name goes to the reserved tail even while the open rows above it are
    /// not full, so the open rows stay for later work (SwiGLU's tail on lane 0 does not eat
    /// the rows the down projection planned to use).
    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one lane, given by its row range
    fn the_reserved_tail_fills_apart_from_the_open_rows() {
        let mut l = Lanes::with_ranges(vec![0..10], 4);
        l.reserve_tail(0, 4);
        assert_eq!(l.place(2).unwrap(), (0, 0));
        assert_eq!(l.place_in(0, 3).unwrap(), 6, "the tail starts at row 6");
        assert_eq!(l.place(4).unwrap(), (0, 2), "rows 2..6 are still open");
        assert!(l.place(1).is_err());
        assert_eq!(l.place_in(0, 1).unwrap(), 9);
        assert!(l.place_in(0, 1).is_err());
    }
}
