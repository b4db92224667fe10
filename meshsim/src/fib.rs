//! The simulated forwarding tables of all nodes, and the walks over them.
//!
//! Owns one entry per (destination, node): the next-hop node, the simulator link it leaves by,
//! and the metric the core reported. Entries are stored destination-major, so a walk towards one
//! destination touches one contiguous row. Only prefixes the simulator announced (one per node) are
//! kept; the simulator counts any other prefix separately.

/// One installed route: forward over `link` to node `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub next: u32,
    pub link: u32,
    pub metric: u16,
}

const NONE: u32 = u32::MAX;

const UNKNOWN: u8 = 0;
const ON_PATH: u8 = 1;
const REACHES: u8 = 2;
const FAILS: u8 = 3;

/// All nodes' FIBs.
#[derive(Debug)]
pub struct Fib {
    nodes: usize,
    entries: Vec<Entry>,
    installed: usize,
    // Scratch space for the walks, kept to avoid allocating per event.
    stamp: Vec<u32>,
    epoch: u32,
    path: Vec<u32>,
    state: Vec<u8>,
    /// Where the last failed connectivity check failed: the next one starts there, since a
    /// broken destination usually stays broken for a while.
    last_failure: usize,
}

impl Fib {
    pub fn new(nodes: usize) -> Fib {
        let empty = Entry {
            next: NONE,
            link: NONE,
            metric: 0,
        };
        Fib {
            nodes,
            entries: vec![empty; nodes * nodes],
            installed: 0,
            stamp: vec![0; nodes],
            epoch: 0,
            path: Vec::with_capacity(nodes),
            state: vec![UNKNOWN; nodes],
            last_failure: 0,
        }
    }

    /// Number of installed entries, over all nodes and destinations.
    pub fn installed(&self) -> usize {
        self.installed
    }

    pub fn get(&self, node: usize, destination: usize) -> Option<Entry> {
        let entry = self.entries[destination * self.nodes + node];
        (entry.next != NONE).then_some(entry)
    }

    pub fn set(&mut self, node: usize, destination: usize, entry: Option<Entry>) {
        let slot = &mut self.entries[destination * self.nodes + node];
        let was = slot.next != NONE;
        match entry {
            Some(entry) => {
                *slot = entry;
                if !was {
                    self.installed += 1;
                }
            }
            None => {
                slot.next = NONE;
                slot.link = NONE;
                if was {
                    self.installed -= 1;
                }
            }
        }
    }

    /// Forgets every route of `node` (it crashed).
    pub fn clear_node(&mut self, node: usize) {
        for destination in 0..self.nodes {
            self.set(node, destination, None);
        }
    }

    /// Follows next hops towards `destination` from `start`. Returns the nodes of the cycle if the
    /// walk revisits a node (the cycle may not contain `start` if it leads into an older loop).
    pub fn find_loop(&mut self, start: usize, destination: usize) -> Option<&[u32]> {
        if self.epoch == u32::MAX {
            self.stamp.fill(0);
            self.epoch = 0;
        }
        self.epoch += 1;
        self.path.clear();
        let row = &self.entries[destination * self.nodes..(destination + 1) * self.nodes];
        let mut current = start;
        loop {
            if current == destination {
                return None;
            }
            if self.stamp[current] == self.epoch {
                let from = self.path.iter().position(|&v| v as usize == current)?;
                return Some(&self.path[from..]);
            }
            self.stamp[current] = self.epoch;
            self.path.push(current as u32);
            let next = row[current].next;
            if next == NONE {
                return None;
            }
            current = next as usize;
        }
    }

    /// Whether, from every node not `down`, following next hops reaches every other node not
    /// `down`, never crossing a link flagged in `cut` nor a down node. Each destination costs one
    /// memoised pass over the nodes, so a whole check is O(N^2); it stops at the first failure.
    pub fn fully_connected(&mut self, down: &[bool], cut: &[bool]) -> bool {
        let n = self.nodes;
        let alive = down.iter().filter(|d| !**d).count();
        if alive <= 1 {
            return true;
        }
        // Cheap necessary condition: stale entries only add to the count.
        if self.installed < alive * (alive - 1) {
            return false;
        }
        let first = self.last_failure;
        for destination in (first..n).chain(0..first).filter(|&d| !down[d]) {
            let row = &self.entries[destination * n..(destination + 1) * n];
            self.state.fill(UNKNOWN);
            self.state[destination] = REACHES;
            for source in (0..n).filter(|&s| !down[s]) {
                self.path.clear();
                let mut current = source;
                let reaches = loop {
                    match self.state[current] {
                        REACHES => break true,
                        FAILS | ON_PATH => break false,
                        _ => {}
                    }
                    self.state[current] = ON_PATH;
                    self.path.push(current as u32);
                    let entry = row[current];
                    if entry.next == NONE || cut[entry.link as usize] || down[entry.next as usize] {
                        break false;
                    }
                    current = entry.next as usize;
                };
                if !reaches {
                    self.last_failure = destination;
                    return false;
                }
                for &v in &self.path {
                    self.state[v as usize] = REACHES;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn via(next: u32, link: u32) -> Option<Entry> {
        Some(Entry {
            next,
            link,
            metric: 96,
        })
    }

    #[test]
    fn loops_and_connectivity() {
        // Line 0 - 1 - 2, links 0 (0-1) and 1 (1-2).
        let mut fib = Fib::new(3);
        let down = [false; 3];
        let mut cut = [false; 2];
        assert!(!fib.fully_connected(&down, &cut));
        fib.set(0, 1, via(1, 0));
        fib.set(0, 2, via(1, 0));
        fib.set(1, 0, via(0, 0));
        fib.set(1, 2, via(2, 1));
        fib.set(2, 0, via(1, 1));
        fib.set(2, 1, via(1, 1));
        assert_eq!(fib.installed(), 6);
        assert!(fib.fully_connected(&down, &cut));
        assert!(fib.find_loop(0, 2).is_none());
        cut[1] = true;
        assert!(!fib.fully_connected(&down, &cut));
        cut[1] = false;
        // 1 now points back to 0 for destination 2: a loop 0 -> 1 -> 0.
        fib.set(1, 2, via(0, 0));
        assert_eq!(fib.find_loop(1, 2), Some(&[1u32, 0][..]));
        assert!(!fib.fully_connected(&down, &cut));
        fib.clear_node(1);
        assert_eq!(fib.installed(), 4);
        assert!(fib.find_loop(0, 2).is_none());
        // With 2 down, only 0 and 1 matter, and 1 has no routes.
        assert!(!fib.fully_connected(&[false, false, true], &cut));
        fib.set(1, 0, via(0, 0));
        assert!(fib.fully_connected(&[false, false, true], &cut));
    }
}
