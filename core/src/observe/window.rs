//! A live window: the first `limit` rows of an ordered query, patched from
//! the rows a write changed instead of re-read.
//!
//! Rows are kept in *rank* order, greatest key first (the newest chat, the
//! newest message). `Order::Ascending` presents them reversed (a timeline
//! shows its newest item last) by mapping each rank to a display index.

use super::ListDiff;
use std::collections::HashMap;
use std::hash::Hash;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// Display index = rank (chat list: newest first).
    Descending,
    /// Display index = len - 1 - rank (timeline: oldest first).
    Ascending,
}

pub(crate) struct Window<K, T> {
    rows: Vec<(K, T)>,
    limit: usize,
    /// Whether `rows` holds every matching row (fewer than `limit` exist).
    exhausted: bool,
    order: Order,
}

impl<K: Ord + Copy, T: Clone> Window<K, T> {
    /// A window over `rows` (rank order, at most `limit`), read with `limit`.
    pub fn new(rows: Vec<(K, T)>, limit: usize, order: Order) -> Self {
        let exhausted = rows.len() < limit;
        Window {
            rows,
            limit,
            exhausted,
            order,
        }
    }

    pub fn values(&self) -> Vec<T> {
        let mut v: Vec<T> = self.rows.iter().map(|(_, t)| t.clone()).collect();
        if self.order == Order::Ascending {
            v.reverse();
        }
        v
    }

    pub fn reset(&mut self, rows: Vec<(K, T)>) -> ListDiff<T> {
        self.exhausted = rows.len() < self.limit;
        self.rows = rows;
        ListDiff::Reset {
            values: self.values(),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    fn display(&self, rank: usize, len: usize) -> usize {
        match self.order {
            Order::Descending => rank,
            Order::Ascending => len - 1 - rank,
        }
    }

    fn remove(&mut self, rank: usize, out: &mut Vec<ListDiff<T>>) {
        let index = self.display(rank, self.rows.len());
        self.rows.remove(rank);
        out.push(ListDiff::Remove { index });
    }

    fn insert(&mut self, rank: usize, key: K, value: T, out: &mut Vec<ListDiff<T>>) {
        // Inserting at rank r of a list of length L: ascending display
        // index is L - r (the item lands after the L - r older ones).
        let index = match self.order {
            Order::Descending => rank,
            Order::Ascending => self.rows.len() - rank,
        };
        self.rows.insert(rank, (key, value.clone()));
        out.push(ListDiff::Insert { index, value });
    }

    /// Patches the window after a write.
    ///
    /// `changed`: ids of every row the write touched; `fresh`: the current
    /// key and value of those of them that now belong to the query (a
    /// changed id absent from `fresh` no longer matches or was deleted);
    /// `more(after, n)`: up to `n` matching rows ranked after key `after`
    /// (from the top when `None`), read in the same transaction state.
    pub fn update<I, E>(
        &mut self,
        changed: &[I],
        fresh: Vec<(K, T)>,
        id_of: impl Fn(&T) -> I,
        more: impl FnOnce(Option<K>, usize) -> Result<Vec<(K, T)>, E>,
    ) -> Result<Vec<ListDiff<T>>, E>
    where
        I: Eq + Hash + Clone,
    {
        let mut out = Vec::new();
        // Rows with a key above the boundary are all in the window.
        let boundary = if self.exhausted {
            None
        } else {
            self.rows.last().map(|(k, _)| *k)
        };
        let mut fresh: HashMap<I, (K, T)> = fresh
            .into_iter()
            .map(|(k, t)| (id_of(&t), (k, t)))
            .collect();
        let mut pending: Vec<(K, T)> = Vec::new();
        for id in changed {
            let rank = self.rows.iter().position(|(_, t)| id_of(t) == *id);
            match (rank, fresh.remove(id)) {
                (Some(r), Some((k, t))) if self.rows[r].0 == k => {
                    // Same place: change in place.
                    let index = self.display(r, self.rows.len());
                    self.rows[r].1 = t.clone();
                    out.push(ListDiff::Set { index, value: t });
                }
                (Some(r), now) => {
                    self.remove(r, &mut out);
                    pending.extend(now);
                }
                (None, now) => pending.extend(now),
            }
        }
        pending.sort_by_key(|(k, _)| std::cmp::Reverse(*k));
        for (k, t) in pending {
            if boundary.is_none_or(|b| k > b) {
                let rank = self.rows.partition_point(|(rk, _)| *rk > k);
                self.insert(rank, k, t, &mut out);
            }
        }
        while self.rows.len() > self.limit {
            self.remove(self.rows.len() - 1, &mut out);
            self.exhausted = false;
        }
        self.refill(more, &mut out)?;
        Ok(out)
    }

    /// Changes how many rows the window holds (the UI scrolled further).
    pub fn set_limit<E>(
        &mut self,
        limit: usize,
        more: impl FnOnce(Option<K>, usize) -> Result<Vec<(K, T)>, E>,
    ) -> Result<Vec<ListDiff<T>>, E> {
        let mut out = Vec::new();
        self.limit = limit;
        while self.rows.len() > limit {
            self.remove(self.rows.len() - 1, &mut out);
            self.exhausted = false;
        }
        self.refill(more, &mut out)?;
        Ok(out)
    }

    fn refill<E>(
        &mut self,
        more: impl FnOnce(Option<K>, usize) -> Result<Vec<(K, T)>, E>,
        out: &mut Vec<ListDiff<T>>,
    ) -> Result<(), E> {
        if self.exhausted || self.rows.len() >= self.limit {
            return Ok(());
        }
        let want = self.limit - self.rows.len();
        let rows = more(self.rows.last().map(|(k, _)| *k), want)?;
        self.exhausted = rows.len() < want;
        for (k, t) in rows {
            let rank = self.rows.len();
            self.insert(rank, k, t, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// A sorted "table" of (key, id) rows; the query is every row with an
    /// even id, greatest key first.
    fn query(table: &[(i32, i32)], after: Option<i32>, n: usize) -> Vec<(i32, i32)> {
        let mut v: Vec<_> = table
            .iter()
            .copied()
            .filter(|(k, id)| id % 2 == 0 && after.is_none_or(|a| *k < a))
            .collect();
        v.sort_by_key(|(k, _)| std::cmp::Reverse(*k));
        v.truncate(n);
        v
    }

    fn check(order: Order) {
        let mut table: Vec<(i32, i32)> = (0..20).map(|i| (i * 10, i)).collect();
        let limit = 4;
        let mut w = Window::new(query(&table, None, limit), limit, order);
        let mut shown = w.values();
        // Move id 2 to the top, drop id 18 (in the window), add id 40 low.
        table.retain(|(_, id)| *id != 18);
        table.iter_mut().for_each(|r| {
            if r.1 == 2 {
                r.0 = 1000
            }
        });
        table.push((5, 40));
        let changed = [2, 18, 40];
        let fresh: Vec<_> = table
            .iter()
            .copied()
            .filter(|(_, id)| changed.contains(id) && id % 2 == 0)
            .collect();
        let diffs = w
            .update(
                &changed,
                fresh,
                |t| *t,
                |a, n| Ok::<_, Infallible>(query(&table, a, n)),
            )
            .unwrap();
        for d in diffs {
            assert!(d.apply(&mut shown));
        }
        let mut want: Vec<i32> = query(&table, None, limit)
            .into_iter()
            .map(|r| r.1)
            .collect();
        if order == Order::Ascending {
            want.reverse();
        }
        assert_eq!(shown, want);
        assert_eq!(w.values(), want);
    }

    #[test]
    fn s3_patched_window_equals_fresh_query_descending() {
        check(Order::Descending);
    }

    #[test]
    fn s3_patched_window_equals_fresh_query_ascending() {
        check(Order::Ascending);
    }
}
