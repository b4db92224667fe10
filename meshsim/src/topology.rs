//! Graph generators: which nodes are linked to which. Owns only the undirected edge list; the
//! simulator turns each edge into a point-to-point link (one Babel link per end, like one
//! WireGuard session per neighbour).
//!
//! - `line`: `0 - 1 - ... - N-1`.
//! - `ring`: a line closed by `N-1 - 0` (when `N >= 3`).
//! - `grid`: `ceil(sqrt N)` columns, row-major, 4-neighbour; the last row may be partial.
//! - `geometric`: a random geometric graph: `N` points uniform in the unit square, an edge between
//!   every pair closer than `r = sqrt(6 / (pi N))`, which gives a mean degree of about 6 away from
//!   the borders (a little less overall). If that graph is disconnected, each component other than
//!   the one holding node 0 is joined, in turn, by one edge between its closest pair of nodes and any
//!   node outside it, until the graph is connected. Those extra edges are counted in
//!   [`Graph::bridging_edges`].

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use crate::rng::SplitMix64;

/// A topology family, or explicit edges.
#[derive(Debug, Clone, PartialEq)]
pub enum Topology {
    Line,
    Ring,
    Grid,
    Geometric,
    /// Explicit undirected edges between node indices (for tests: triangles and the like).
    Edges(Vec<(usize, usize)>),
}

impl FromStr for Topology {
    type Err = String;
    fn from_str(s: &str) -> Result<Topology, String> {
        match s {
            "line" => Ok(Topology::Line),
            "ring" => Ok(Topology::Ring),
            "grid" => Ok(Topology::Grid),
            "geometric" => Ok(Topology::Geometric),
            _ => Err(format!(
                "unknown topology `{s}` (expected line, ring, grid or geometric)"
            )),
        }
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topology::Line => f.write_str("line"),
            Topology::Ring => f.write_str("ring"),
            Topology::Grid => f.write_str("grid"),
            Topology::Geometric => f.write_str("geometric"),
            Topology::Edges(e) => write!(f, "edges({})", e.len()),
        }
    }
}

/// An undirected simple graph on nodes `0..nodes`.
#[derive(Debug, Clone)]
pub struct Graph {
    pub nodes: usize,
    /// Each edge once, as `(a, b)` with `a < b`; its position is the simulator's link index.
    pub edges: Vec<(usize, usize)>,
    /// Edges added to connect a disconnected geometric graph.
    pub bridging_edges: usize,
}

impl Graph {
    /// Builds the graph for `topology`; `seed` is only used by `geometric`.
    pub fn generate(topology: &Topology, nodes: usize, seed: u64) -> Result<Graph, String> {
        let mut graph = Graph {
            nodes,
            edges: Vec::new(),
            bridging_edges: 0,
        };
        match topology {
            Topology::Line => {
                for i in 1..nodes {
                    graph.edges.push((i - 1, i));
                }
            }
            Topology::Ring => {
                for i in 1..nodes {
                    graph.edges.push((i - 1, i));
                }
                if nodes >= 3 {
                    graph.edges.push((0, nodes - 1));
                }
            }
            Topology::Grid => {
                let columns = (1..=nodes.max(1)).find(|c| c * c >= nodes).unwrap_or(1);
                for i in 0..nodes {
                    if (i + 1) % columns != 0 && i + 1 < nodes {
                        graph.edges.push((i, i + 1));
                    }
                    if i + columns < nodes {
                        graph.edges.push((i, i + columns));
                    }
                }
            }
            Topology::Geometric => graph.geometric(seed),
            Topology::Edges(edges) => {
                for &(a, b) in edges {
                    if a >= nodes || b >= nodes || a == b {
                        return Err(format!("bad edge ({a}, {b}) for {nodes} nodes"));
                    }
                    let edge = (a.min(b), a.max(b));
                    if graph.edges.contains(&edge) {
                        return Err(format!("duplicate edge ({a}, {b})"));
                    }
                    graph.edges.push(edge);
                }
            }
        }
        Ok(graph)
    }

    fn geometric(&mut self, seed: u64) {
        let n = self.nodes;
        let mut rng = SplitMix64::derive(seed, 0x6765_6f6d);
        let points: Vec<(f64, f64)> = (0..n).map(|_| (rng.next_f64(), rng.next_f64())).collect();
        let radius = (6.0 / (std::f64::consts::PI * n.max(1) as f64)).sqrt();
        let distance2 = |a: usize, b: usize| {
            let (dx, dy) = (points[a].0 - points[b].0, points[a].1 - points[b].1);
            dx * dx + dy * dy
        };
        for a in 0..n {
            for b in a + 1..n {
                if distance2(a, b) <= radius * radius {
                    self.edges.push((a, b));
                }
            }
        }
        loop {
            let component = self.components(&[], &[]);
            let Some(lonely) = (0..n).find(|&v| component[v] != component[0]) else {
                return;
            };
            let own = component[lonely];
            let mut best: Option<(f64, usize, usize)> = None;
            for a in (0..n).filter(|&v| component[v] == own) {
                for b in (0..n).filter(|&v| component[v] != own) {
                    let d = distance2(a, b);
                    if best.is_none_or(|(bd, _, _)| d < bd) {
                        best = Some((d, a, b));
                    }
                }
            }
            let Some((_, a, b)) = best else { return };
            self.edges.push((a.min(b), a.max(b)));
            self.bridging_edges += 1;
        }
    }

    /// Component label of every node, ignoring the edges flagged in `cut` and the nodes flagged in
    /// `down` (a down node gets its own label). Empty slices mean "none".
    pub fn components(&self, cut: &[bool], down: &[bool]) -> Vec<usize> {
        let adjacency = self.adjacency();
        let mut label = vec![usize::MAX; self.nodes];
        let mut queue = VecDeque::new();
        for start in 0..self.nodes {
            if label[start] != usize::MAX {
                continue;
            }
            label[start] = start;
            if down.get(start).copied().unwrap_or(false) {
                continue;
            }
            queue.push_back(start);
            while let Some(v) = queue.pop_front() {
                for &(w, edge) in &adjacency[v] {
                    if cut.get(edge).copied().unwrap_or(false)
                        || down.get(w).copied().unwrap_or(false)
                        || label[w] != usize::MAX
                    {
                        continue;
                    }
                    label[w] = start;
                    queue.push_back(w);
                }
            }
        }
        label
    }

    /// Whether every node not flagged in `down` can reach every other one without the edges
    /// flagged in `cut`.
    pub fn is_connected(&self, cut: &[bool], down: &[bool]) -> bool {
        let label = self.components(cut, down);
        let mut alive = (0..self.nodes).filter(|&v| !down.get(v).copied().unwrap_or(false));
        match alive.next() {
            None => true,
            Some(first) => alive.all(|v| label[v] == label[first]),
        }
    }

    /// For each node, its `(neighbour, edge index)` pairs.
    pub fn adjacency(&self) -> Vec<Vec<(usize, usize)>> {
        let mut adjacency = vec![Vec::new(); self.nodes];
        for (i, &(a, b)) in self.edges.iter().enumerate() {
            adjacency[a].push((b, i));
            adjacency[b].push((a, i));
        }
        adjacency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let line = Graph::generate(&Topology::Line, 5, 0).unwrap();
        assert_eq!(line.edges.len(), 4);
        let ring = Graph::generate(&Topology::Ring, 8, 0).unwrap();
        assert_eq!(ring.edges.len(), 8);
        let grid = Graph::generate(&Topology::Grid, 16, 0).unwrap();
        assert_eq!(grid.edges.len(), 24);
        let partial = Graph::generate(&Topology::Grid, 10, 0).unwrap();
        assert!(partial.is_connected(&[], &[]));
        for n in [1, 2, 30, 200] {
            let g = Graph::generate(&Topology::Geometric, n, 42).unwrap();
            assert!(g.is_connected(&[], &[]), "geometric {n}");
        }
    }

    #[test]
    fn geometric_mean_degree_is_near_six() {
        let g = Graph::generate(&Topology::Geometric, 1000, 1).unwrap();
        let mean = 2.0 * g.edges.len() as f64 / 1000.0;
        assert!((4.5..7.0).contains(&mean), "mean degree {mean}");
    }

    #[test]
    fn cuts_and_down_nodes() {
        let ring = Graph::generate(&Topology::Ring, 4, 0).unwrap();
        let mut cut = vec![false; 4];
        cut[0] = true;
        assert!(ring.is_connected(&cut, &[]));
        cut[2] = true;
        assert!(!ring.is_connected(&cut, &[]));
        let line = Graph::generate(&Topology::Line, 3, 0).unwrap();
        assert!(!line.is_connected(&[], &[false, true, false]));
        assert!(line.is_connected(&[], &[true, false, false]));
    }
}
