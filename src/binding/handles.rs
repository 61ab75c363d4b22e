//! Native objects behind plain numeric handles.
//!
//! Why handles and not `#[napi]` classes on hot paths: a class method call unwraps `this` (a
//! private-property lookup on the JS object, plus napi-rs's receiver checks) on every call;
//! measured here a method call cost several times a plain function call taking a number. Objects
//! live in a thread-local slab (a JS realm and what it creates belong to one thread); the JS
//! layer frees a handle from a `FinalizationRegistry` when its owner is collected, so a handle is
//! never reused while anything can still call with it.

pub struct Handles<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Handles<T> {
    pub const fn new() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Stores `item`; returns its handle.
    pub fn insert(&mut self, item: T) -> u32 {
        if let Some(h) = self.free.pop() {
            self.items[h as usize] = Some(item);
            h
        } else {
            self.items.push(Some(item));
            (self.items.len() - 1) as u32
        }
    }

    pub fn get_mut(&mut self, handle: u32) -> Option<&mut T> {
        self.items.get_mut(handle as usize)?.as_mut()
    }

    /// The items behind several distinct handles at once, in the order asked; `None` if a
    /// handle is unknown or repeated.
    pub fn get_many_mut(&mut self, handles: &[u32]) -> Option<Vec<&mut T>> {
        let mut order: Vec<usize> = (0..handles.len()).collect();
        order.sort_by_key(|&i| handles[i]);
        let mut found: Vec<Option<&mut T>> = handles.iter().map(|_| None).collect();
        let mut rest: &mut [Option<T>] = &mut self.items;
        let mut base = 0usize;
        for i in order {
            let at = (handles[i] as usize).checked_sub(base)?;
            let (item, after) = std::mem::take(&mut rest).get_mut(at..)?.split_first_mut()?;
            found[i] = Some(item.as_mut()?);
            rest = after;
            base = handles[i] as usize + 1;
        }
        found.into_iter().collect()
    }

    /// Forgets the item; its handle may be reused afterwards.
    pub fn remove(&mut self, handle: u32) -> Option<T> {
        let item = self.items.get_mut(handle as usize)?.take()?;
        self.free.push(handle);
        Some(item)
    }
}
