//! String interning for facts kept until the end of the capture: each
//! distinct name, value or host is stored once.

use rustc_hash::FxHashMap as HashMap;
use std::rc::Rc;

#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<Rc<str>, u32>,
    strings: Vec<Rc<str>>,
    bytes: usize,
}

impl Interner {
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as u32;
        let shared: Rc<str> = Rc::from(s);
        self.bytes += s.len();
        self.strings.push(Rc::clone(&shared));
        self.ids.insert(shared, id);
        id
    }

    /// The id of a string already interned.
    pub fn find(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    pub fn get(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", |s| s)
    }

    /// Bytes of the distinct strings held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}
