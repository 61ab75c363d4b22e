//! An intrusive doubly linked list over slot numbers: O(1) push, unlink and front/back, with
//! the links kept in a side table so one slot can sit in several lists.

pub const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
pub struct Links {
    prev: u32,
    next: u32,
}

impl Default for Links {
    fn default() -> Self {
        Self {
            prev: NIL,
            next: NIL,
        }
    }
}

#[derive(Debug)]
pub struct List {
    head: u32,
    tail: u32,
}

impl Default for List {
    fn default() -> Self {
        Self {
            head: NIL,
            tail: NIL,
        }
    }
}

impl List {
    pub fn front(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    pub fn back(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    pub fn push_back(&mut self, links: &mut [Links], slot: u32) {
        links[slot as usize] = Links {
            prev: self.tail,
            next: NIL,
        };
        if self.tail == NIL {
            self.head = slot;
        } else {
            links[self.tail as usize].next = slot;
        }
        self.tail = slot;
    }

    pub fn unlink(&mut self, links: &mut [Links], slot: u32) {
        let Links { prev, next } = links[slot as usize];
        if prev == NIL {
            self.head = next;
        } else {
            links[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            links[next as usize].prev = prev;
        }
        links[slot as usize] = Links::default();
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    #[cfg(test)]
    pub fn iter<'a>(&self, links: &'a [Links]) -> impl Iterator<Item = u32> + 'a {
        let mut at = self.head;
        std::iter::from_fn(move || {
            (at != NIL).then(|| {
                let slot = at;
                at = links[slot as usize].next;
                slot
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_unlink_keeps_order() {
        let mut links = vec![Links::default(); 4];
        let mut l = List::default();
        for s in 0..4 {
            l.push_back(&mut links, s);
        }
        l.unlink(&mut links, 0);
        l.unlink(&mut links, 2);
        l.push_back(&mut links, 0);
        assert_eq!(l.iter(&links).collect::<Vec<_>>(), vec![1, 3, 0]);
        assert_eq!((l.front(), l.back()), (Some(1), Some(0)));
        for s in [1, 3, 0] {
            l.unlink(&mut links, s);
        }
        assert_eq!((l.front(), l.back()), (None, None));
    }
}
