use serde::{Deserialize, Serialize};

/// One change to a list a screen shows (S3). Indexes refer to the list as it
/// is when the diff is applied, diffs applied in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListDiff<T> {
    /// Replace the whole list: the first diff of every subscription, and
    /// after a change too broad to patch.
    Reset {
        values: Vec<T>,
    },
    Insert {
        index: usize,
        value: T,
    },
    Set {
        index: usize,
        value: T,
    },
    Remove {
        index: usize,
    },
}

impl<T> ListDiff<T> {
    /// Applies this diff to `list`. Returns false (and leaves `list` as it
    /// was) if an index is out of range: the caller's copy has diverged.
    pub fn apply(self, list: &mut Vec<T>) -> bool {
        match self {
            ListDiff::Reset { values } => *list = values,
            ListDiff::Insert { index, value } if index <= list.len() => list.insert(index, value),
            ListDiff::Set { index, value } if index < list.len() => list[index] = value,
            ListDiff::Remove { index } if index < list.len() => {
                list.remove(index);
            }
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_apply_in_order_and_refuse_bad_indexes() {
        let mut l = vec![1, 2, 3];
        assert!(ListDiff::Insert { index: 0, value: 0 }.apply(&mut l));
        assert!(ListDiff::Remove { index: 3 }.apply(&mut l));
        assert!(ListDiff::Set { index: 1, value: 9 }.apply(&mut l));
        assert_eq!(l, [0, 9, 2]);
        assert!(!ListDiff::Remove { index: 3 }.apply(&mut l));
        assert!(!ListDiff::Insert { index: 5, value: 5 }.apply(&mut l));
        assert_eq!(l, [0, 9, 2]);
        assert!(ListDiff::Reset { values: vec![7] }.apply(&mut l));
        assert_eq!(l, [7]);
    }
}
