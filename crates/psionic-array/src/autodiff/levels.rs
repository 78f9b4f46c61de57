//! The stack of running transforms of one kind (`jvp` levels, `vmap` levels) on this
//! thread. A rule for level L runs with L and the levels above it hidden, so the rule's
//! own ops are not mistaken for the function's, while lower levels keep seeing them.

use std::cell::{Cell, RefCell};
use std::thread::LocalKey;

pub(crate) struct Stack<L> {
    levels: RefCell<Vec<L>>,
    /// Levels visible now (cheap to read from `build` on every op).
    active: Cell<usize>,
}

impl<L> Stack<L> {
    pub const fn new() -> Self {
        Stack { levels: RefCell::new(Vec::new()), active: Cell::new(0) }
    }

    pub fn active(&self) -> bool {
        self.active.get() > 0
    }

    pub fn len(&self) -> usize {
        self.levels.borrow().len()
    }

    /// Reads level `level` (when visible).
    pub fn get<R>(&self, level: usize, f: impl FnOnce(&L) -> R) -> Option<R> {
        self.levels.borrow().get(level).map(f)
    }

    pub fn get_mut<R>(&self, level: usize, f: impl FnOnce(&mut L) -> R) -> Option<R> {
        self.levels.borrow_mut().get_mut(level).map(f)
    }

    /// True when some visible level satisfies `f`.
    pub fn any(&self, f: impl Fn(&L) -> bool) -> bool {
        self.levels.borrow().iter().any(f)
    }

    /// Runs `f` with only the levels below `level` visible.
    pub fn below<R>(&self, level: usize, f: impl FnOnce() -> R) -> R {
        let hidden: Vec<L> = self.levels.borrow_mut().split_off(level);
        self.active.set(level);
        struct Restore<'a, L>(&'a Stack<L>, Option<Vec<L>>);
        impl<L> Drop for Restore<'_, L> {
            fn drop(&mut self) {
                let mut v = self.0.levels.borrow_mut();
                v.extend(self.1.take().unwrap_or_default());
                self.0.active.set(v.len());
            }
        }
        let _restore = Restore(self, Some(hidden));
        f()
    }
}

/// Pushes a level onto the thread's `stack`; it is popped when the guard drops.
pub(crate) fn push<L: 'static>(stack: &'static LocalKey<Stack<L>>, l: L) -> Pop<L> {
    let level = stack.with(|s| {
        let mut v = s.levels.borrow_mut();
        v.push(l);
        s.active.set(v.len());
        v.len() - 1
    });
    Pop { stack, level }
}

/// Pops its level (and any left above it by a panic) when dropped.
pub(crate) struct Pop<L: 'static> {
    stack: &'static LocalKey<Stack<L>>,
    pub level: usize,
}

impl<L> Drop for Pop<L> {
    fn drop(&mut self) {
        // Dropping the level's contents may build nothing, but keep the borrow short.
        let popped = self.stack.with(|s| {
            let popped = s.levels.borrow_mut().split_off(self.level);
            s.active.set(self.level);
            popped
        });
        drop(popped);
    }
}
