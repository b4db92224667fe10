//! The simulated forwarding tables of all nodes, and the walks over them.
//!
//! Owns one entry per (prefix, node): nothing, a next hop (the next-hop node, the simulator link
//! it leaves by, and the metric the core reported), or *drop* (the core holds the prefix
//! unreachable, RFC 8966 §3.5.4). Entries are stored prefix-major, so a walk towards one prefix
//! touches one contiguous row. It also owns, per prefix, which nodes originate it and which other
//! prefixes cover it, because forwarding is longest-prefix match: a node with no entry for a
//! node's /128 forwards by a covering `::/0` if it has one, and a node with a drop entry does not
//! (that is what the hold time is for).
//!
//! Only prefixes the simulator announced are kept; the simulator counts any other prefix
//! separately.

/// What one node does with packets for one prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Forward over `link` to node `next`.
    Forward { next: u32, link: u32, metric: u16 },
    /// Drop (the core held the prefix unreachable, `RouteChange::Unreachable`): never fall
    /// through to a shorter prefix.
    Drop,
}

/// The decision at one node when forwarding a packet for a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The node originates the prefix: the packet arrived.
    Arrived,
    /// The node originates a covering prefix (a gateway for `::/0`): the packet leaves the mesh
    /// there, not at an origin of the prefix itself.
    Exits,
    Forward {
        next: u32,
        link: u32,
    },
    /// No route, a drop entry, or the node is down.
    Dropped,
}

/// Where a walk from one node towards one prefix ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// Nodes visited, the start first.
    pub nodes: Vec<usize>,
    pub end: Step,
    /// Whether the walk came back to a node it had visited (the last node is the repeated one).
    pub looped: bool,
    /// Sum of the real cost of every link crossed.
    pub cost: u64,
}

const NONE: u32 = u32::MAX;
const DROP: u32 = u32::MAX - 1;

const UNKNOWN: u8 = 0;
const ON_PATH: u8 = 1;
const REACHES: u8 = 2;
const FAILS: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    next: u32,
    link: u32,
    metric: u16,
}

const EMPTY: Slot = Slot {
    next: NONE,
    link: NONE,
    metric: 0,
};

/// All nodes' FIBs.
#[derive(Debug)]
pub struct Fib {
    nodes: usize,
    prefixes: usize,
    /// The next hop of every slot, apart from the rest: the walks read only this, and a dense row
    /// of it stays in cache (a third of the size of whole slots).
    next: Vec<u32>,
    slots: Vec<Slot>,
    installed: usize,
    /// For each prefix, itself and then every other prefix that contains it, longest first: the
    /// order of a longest-prefix-match lookup.
    chain: Vec<Vec<u32>>,
    /// For each prefix, the prefixes it covers (strictly longer ones inside it).
    covers: Vec<Vec<u32>>,
    /// For each prefix, the nodes announcing it now.
    origins: Vec<Vec<u32>>,
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
    /// `nodes` nodes and the given prefixes, as `(network bits, length)` of IPv6 prefixes, each
    /// with its initial origins.
    pub fn new(nodes: usize, prefixes: &[(u128, u8)], origins: Vec<Vec<u32>>) -> Fib {
        let p = prefixes.len();
        let inside = |inner: (u128, u8), outer: (u128, u8)| {
            let mask = if outer.1 == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(outer.1))
            };
            inner.1 > outer.1 && inner.0 & mask == outer.0
        };
        let mut chain = Vec::with_capacity(p);
        let mut covers = vec![Vec::new(); p];
        // Only the few prefixes shorter than /128 can cover anything.
        let short: Vec<usize> = (0..p).filter(|&i| prefixes[i].1 < 128).collect();
        for (i, &prefix) in prefixes.iter().enumerate() {
            let mut covering: Vec<u32> = short
                .iter()
                .copied()
                .filter(|&j| inside(prefix, prefixes[j]))
                .map(|j| j as u32)
                .collect();
            covering.sort_by_key(|&j| std::cmp::Reverse(prefixes[j as usize].1));
            for &j in &covering {
                covers[j as usize].push(i as u32);
            }
            let mut c = vec![i as u32];
            c.extend(covering);
            chain.push(c);
        }
        Fib {
            nodes,
            prefixes: p,
            next: vec![NONE; nodes * p],
            slots: vec![EMPTY; nodes * p],
            installed: 0,
            chain,
            covers,
            origins,
            stamp: vec![0; nodes],
            epoch: 0,
            path: Vec::with_capacity(nodes),
            state: vec![UNKNOWN; nodes],
            last_failure: 0,
        }
    }

    pub fn prefixes(&self) -> usize {
        self.prefixes
    }

    /// Number of installed entries (forward or drop), over all nodes and prefixes.
    pub fn installed(&self) -> usize {
        self.installed
    }

    /// Whether any prefix covers another one (longest-prefix match matters).
    pub fn has_covering(&self) -> bool {
        self.covers.iter().any(|c| !c.is_empty())
    }

    /// The prefixes `prefix` covers (strictly longer ones inside it).
    pub fn covered_by(&self, prefix: usize) -> &[u32] {
        &self.covers[prefix]
    }

    pub fn origins(&self, prefix: usize) -> &[u32] {
        &self.origins[prefix]
    }

    pub fn is_origin(&self, prefix: usize, node: usize) -> bool {
        self.origins[prefix].contains(&(node as u32))
    }

    pub fn set_origin(&mut self, prefix: usize, node: usize, announcing: bool) {
        let list = &mut self.origins[prefix];
        let node = node as u32;
        match (list.iter().position(|&v| v == node), announcing) {
            (None, true) => list.push(node),
            (Some(i), false) => {
                list.swap_remove(i);
            }
            _ => {}
        }
    }

    pub fn get(&self, node: usize, prefix: usize) -> Option<Entry> {
        let slot = self.slots[prefix * self.nodes + node];
        match slot.next {
            NONE => None,
            DROP => Some(Entry::Drop),
            next => Some(Entry::Forward {
                next,
                link: slot.link,
                metric: slot.metric,
            }),
        }
    }

    pub fn set(&mut self, node: usize, prefix: usize, entry: Option<Entry>) {
        let index = prefix * self.nodes + node;
        let slot = &mut self.slots[index];
        let was = slot.next != NONE;
        *slot = match entry {
            None => EMPTY,
            Some(Entry::Drop) => Slot {
                next: DROP,
                ..EMPTY
            },
            Some(Entry::Forward { next, link, metric }) => Slot { next, link, metric },
        };
        let is = slot.next != NONE;
        self.next[index] = slot.next;
        if is && !was {
            self.installed += 1;
        } else if was && !is {
            self.installed -= 1;
        }
    }

    /// Forgets every route of `node` (it crashed).
    pub fn clear_node(&mut self, node: usize) {
        for prefix in 0..self.prefixes {
            self.set(node, prefix, None);
        }
    }

    /// Longest-prefix match at `node` for an address inside `prefix` (and in no longer prefix).
    pub fn step(&self, node: usize, prefix: usize, down: &[bool]) -> Step {
        if down[node] {
            return Step::Dropped;
        }
        for (i, &q) in self.chain[prefix].iter().enumerate() {
            let q = q as usize;
            if self.is_origin(q, node) {
                return if i == 0 { Step::Arrived } else { Step::Exits };
            }
            let slot = self.slots[q * self.nodes + node];
            match slot.next {
                NONE => continue,
                DROP => return Step::Dropped,
                next => {
                    return Step::Forward {
                        next,
                        link: slot.link,
                    }
                }
            }
        }
        Step::Dropped
    }

    /// Whether a change of `node`'s entry for `covering` (the prefix itself or a covering one)
    /// can change where it sends `prefix`'s packets: no longer prefix between them has an entry
    /// or an origin at `node`.
    pub fn decides_by(&self, node: usize, prefix: usize, covering: usize) -> bool {
        for &q in &self.chain[prefix] {
            let q = q as usize;
            if q == covering {
                return true;
            }
            if self.has_own(node, q) {
                return false;
            }
        }
        false
    }

    /// Whether `node` originates `prefix` or has an entry (forward or drop) for it: if not, it
    /// forwards the prefix's packets by a shorter prefix, if any.
    pub fn has_own(&self, node: usize, prefix: usize) -> bool {
        self.is_origin(prefix, node) || self.next[prefix * self.nodes + node] != NONE
    }

    /// Follows the forwarding decisions towards `prefix` from `start`. Returns the nodes of the
    /// cycle if the walk revisits a node (the cycle may not contain `start` if it leads into an
    /// older loop). Links are followed whether cut or not: a loop in the tables is a loop.
    pub fn find_loop(&mut self, start: usize, prefix: usize, down: &[bool]) -> Option<&[u32]> {
        if self.epoch == u32::MAX {
            self.stamp.fill(0);
            self.epoch = 0;
        }
        self.epoch += 1;
        self.path.clear();
        let mut current = start;
        if self.chain[prefix].len() == 1 {
            // Nothing covers the prefix (the common case): one row and one origin list, without
            // the longest-prefix-match lookup per hop. Down nodes have no entries.
            let row = &self.next[prefix * self.nodes..(prefix + 1) * self.nodes];
            let origins = &self.origins[prefix];
            loop {
                if self.stamp[current] == self.epoch {
                    let from = self.path.iter().position(|&v| v as usize == current)?;
                    return Some(&self.path[from..]);
                }
                self.stamp[current] = self.epoch;
                self.path.push(current as u32);
                let next = row[current];
                if next == NONE
                    || next == DROP
                    || down[current]
                    || origins.contains(&(current as u32))
                {
                    return None;
                }
                current = next as usize;
            }
        }
        loop {
            if self.stamp[current] == self.epoch {
                let from = self.path.iter().position(|&v| v as usize == current)?;
                return Some(&self.path[from..]);
            }
            self.stamp[current] = self.epoch;
            self.path.push(current as u32);
            match self.step(current, prefix, down) {
                Step::Forward { next, .. } => current = next as usize,
                _ => return None,
            }
        }
    }

    /// Some forwarding cycle for `prefix` among all nodes, if there is one (one memoised pass).
    pub fn any_cycle(&mut self, prefix: usize, down: &[bool]) -> Option<Vec<u32>> {
        self.state.fill(UNKNOWN);
        for start in 0..self.nodes {
            if self.state[start] != UNKNOWN {
                continue;
            }
            self.path.clear();
            let mut current = start;
            loop {
                match self.state[current] {
                    ON_PATH => {
                        let from = self.path.iter().position(|&v| v as usize == current)?;
                        return Some(self.path[from..].to_vec());
                    }
                    UNKNOWN => {}
                    _ => break,
                }
                self.state[current] = ON_PATH;
                self.path.push(current as u32);
                match self.step(current, prefix, down) {
                    Step::Forward { next, .. } => current = next as usize,
                    _ => break,
                }
            }
            for &v in &self.path {
                self.state[v as usize] = FAILS;
            }
        }
        None
    }

    /// The whole walk from `start` towards `prefix`, with the cost of each link crossed taken
    /// from `cost(link, from node)`.
    pub fn walk(
        &self,
        start: usize,
        prefix: usize,
        down: &[bool],
        cost: impl Fn(usize, usize) -> u64,
    ) -> Walk {
        let mut walk = Walk {
            nodes: vec![start],
            end: Step::Dropped,
            looped: false,
            cost: 0,
        };
        let mut current = start;
        loop {
            match self.step(current, prefix, down) {
                Step::Forward { next, link } => {
                    walk.cost += cost(link as usize, current);
                    current = next as usize;
                    walk.looped = walk.nodes.contains(&current);
                    walk.nodes.push(current);
                    if walk.looped {
                        walk.end = Step::Forward { next, link };
                        return walk;
                    }
                }
                end => {
                    walk.end = end;
                    return walk;
                }
            }
        }
    }

    /// Whether, from every node not `down`, forwarding reaches an origin of every prefix that has
    /// a live origin (for a node's /128, that node; leaving by a gateway does not count), never
    /// crossing a link flagged in `cut` nor a down node. Each prefix costs one memoised pass over
    /// the nodes, so a whole check is O(nodes x prefixes); it stops at the first failure.
    pub fn fully_connected(&mut self, down: &[bool], cut: &[bool]) -> bool {
        let n = self.nodes;
        let alive = down.iter().filter(|d| !**d).count();
        if alive <= 1 {
            return true;
        }
        // Cheap necessary condition when every prefix is a node's own /128 and nothing covers
        // anything: each live node needs an entry for every other live node (stale entries only
        // add to the count).
        if self.prefixes == n && !self.has_covering() && self.installed < alive * (alive - 1) {
            return false;
        }
        let first = self.last_failure.min(self.prefixes);
        for prefix in (first..self.prefixes).chain(0..first) {
            if !self.origins[prefix].iter().any(|&o| !down[o as usize]) {
                continue;
            }
            self.state.fill(UNKNOWN);
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
                    match self.step(current, prefix, down) {
                        Step::Arrived => break true,
                        Step::Forward { next, link }
                            if !cut[link as usize] && !down[next as usize] =>
                        {
                            current = next as usize
                        }
                        _ => break false,
                    }
                };
                if !reaches {
                    self.last_failure = prefix;
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
        Some(Entry::Forward {
            next,
            link,
            metric: 96,
        })
    }

    fn host(i: u128) -> (u128, u8) {
        (0xfd00_6d65_7368_0000_0000_0000_0000_0000 | i, 128)
    }

    #[test]
    fn loops_and_connectivity() {
        // Line 0 - 1 - 2, links 0 (0-1) and 1 (1-2); prefix i is node i's.
        let mut fib = Fib::new(
            3,
            &[host(1), host(2), host(3)],
            vec![vec![0], vec![1], vec![2]],
        );
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
        assert!(fib.find_loop(0, 2, &down).is_none());
        let walk = fib.walk(0, 2, &down, |_, _| 100);
        assert_eq!(
            (walk.nodes, walk.end, walk.cost),
            (vec![0, 1, 2], Step::Arrived, 200)
        );
        cut[1] = true;
        assert!(!fib.fully_connected(&down, &cut));
        cut[1] = false;
        // 1 now points back to 0 for destination 2: a loop 0 -> 1 -> 0.
        fib.set(1, 2, via(0, 0));
        assert_eq!(fib.find_loop(1, 2, &down), Some(&[1u32, 0][..]));
        assert_eq!(fib.any_cycle(2, &down), Some(vec![0, 1]));
        assert_eq!(fib.any_cycle(1, &down), None);
        assert!(!fib.fully_connected(&down, &cut));
        fib.clear_node(1);
        assert_eq!(fib.installed(), 4);
        assert!(fib.find_loop(0, 2, &down).is_none());
        // With 2 down, only 0 and 1 matter, and 1 has no routes.
        let down = [false, false, true];
        assert!(!fib.fully_connected(&down, &cut));
        fib.set(1, 0, via(0, 0));
        assert!(fib.fully_connected(&down, &cut));
    }

    /// A missing /128 falls through to `::/0`, and that can loop; a drop entry does not fall
    /// through.
    #[test]
    fn longest_prefix_match_and_hold() {
        // Line 0 - 1 - 2; node 0 is a gateway (::/0, prefix 3), node 2 owns prefix 2.
        let prefixes = [host(1), host(2), host(3), (0, 0)];
        let origins = vec![vec![0], vec![1], vec![2], vec![0]];
        let mut fib = Fib::new(3, &prefixes, origins);
        let down = [false; 3];
        assert_eq!(fib.covered_by(3), &[0, 1, 2]);
        assert!(fib.has_covering());
        // Node 1 lost its /128 route to 2 and defaults towards the gateway 0; node 0 still
        // routes 2's /128 via 1.
        fib.set(1, 3, via(0, 0));
        fib.set(0, 2, via(1, 0));
        assert_eq!(fib.step(1, 2, &down), Step::Forward { next: 0, link: 0 });
        assert!(fib.decides_by(1, 2, 3));
        assert!(!fib.decides_by(0, 2, 3));
        assert!(!fib.has_own(1, 2));
        assert!(fib.has_own(0, 2));
        assert_eq!(fib.find_loop(1, 2, &down), Some(&[1u32, 0][..]));
        // Held unreachable at 1: dropped, no loop.
        fib.set(1, 2, Some(Entry::Drop));
        assert_eq!(fib.step(1, 2, &down), Step::Dropped);
        assert!(fib.find_loop(1, 2, &down).is_none());
        // The gateway is where ::/0 traffic exits; a packet for 2's address exits there only
        // when the gateway has no route for 2 itself.
        fib.set(0, 2, None);
        assert_eq!(fib.step(0, 2, &down), Step::Exits);
        fib.set_origin(3, 0, false);
        assert_eq!(fib.step(0, 2, &down), Step::Dropped);
    }
}
