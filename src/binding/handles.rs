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

    /// Forgets the item; its handle may be reused afterwards.
    pub fn remove(&mut self, handle: u32) -> Option<T> {
        let item = self.items.get_mut(handle as usize)?.take()?;
        self.free.push(handle);
        Some(item)
    }
}
