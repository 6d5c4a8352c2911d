//! String interning for facts kept until the end of the capture: each
//! distinct name, value or host is stored once.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<String, u32>,
    strings: Vec<String>,
}

impl Interner {
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }

    /// The id of a string already interned.
    pub fn find(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    pub fn get(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", String::as_str)
    }
}
