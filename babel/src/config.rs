//! Protocol parameters: the node-wide timers and the per-link settings.

use std::time::Duration;

/// Node-wide parameters.
#[derive(Debug, Clone)]
pub struct Config {
    /// Interval between our scheduled multicast Hellos on each link.
    pub hello_interval: Duration,
    /// Interval between the IHUs we send each neighbour (they ride in Hello packets). babeld and
    /// BIRD use 3 Hello intervals; a new neighbour gets one at once.
    pub ihu_interval: Duration,
    /// Interval between full route table dumps on each link. Changes go out at once as triggered
    /// updates; the periodic dump only repairs what was lost.
    pub update_interval: Duration,
    /// How much better (in metric) another route must be before we leave a selected one, so that
    /// near-equal routes do not flap. Also the documented optimality margin of the simulator.
    pub switch_hysteresis: u16,
    /// A route better than the selected one by less than `switch_hysteresis` (but by more than
    /// a sixteenth of it) is taken once it has stayed better for this long. Hysteresis alone
    /// would let small detours add up along a path; the delay keeps noise from flapping routes
    /// while still ending on the shortest path.
    pub switch_delay: Duration,
    /// Bound on each link's queue of pending triggered messages.
    pub max_pending_per_link: usize,
    /// Bounds on what neighbours can make the node hold (a hostile or broken neighbour costs a
    /// bounded amount).
    pub limits: Limits,
}

/// Bounds on the route and source tables. Beyond them an update for a new (prefix, neighbour)
/// is refused and counted, and a route that would need a new source entry is not selected;
/// what the tables already hold keeps working. The defaults hold a mesh of several thousand
/// nodes with room to spare (a route takes about 100 bytes, a source about 50).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Routes held from one neighbour, retractions still remembered included.
    pub routes_per_neighbour: usize,
    /// Routes held from all neighbours together.
    pub routes: usize,
    /// Entries of the source table (RFC 8966 §3.2.5): one per (prefix, router-id) announced
    /// in the last few minutes.
    pub sources: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            routes_per_neighbour: 8192,
            routes: 32768,
            sources: 32768,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            hello_interval: Duration::from_secs(4),
            ihu_interval: Duration::from_secs(12),
            update_interval: Duration::from_secs(16),
            switch_hysteresis: 96,
            switch_delay: Duration::from_secs(4),
            max_pending_per_link: 4096,
            limits: Limits::default(),
        }
    }
}

/// How a link's cost is computed from Hello reception (RFC 8966 Appendix A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostModel {
    /// k-out-of-j: the link works if at least 2 of the last 3 Hellos arrived; for wired and other
    /// reliable links.
    KOutOfJ,
    /// ETX from the Hello history; for lossy links such as Wi-Fi underlays.
    Etx,
}

/// RTT-based cost (RFC 9616 and babeld's shape): no extra cost up to `min`, then rising linearly to
/// `max_penalty` at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttConfig {
    pub min: Duration,
    pub max: Duration,
    pub max_penalty: u16,
}

impl Default for RttConfig {
    fn default() -> RttConfig {
        RttConfig {
            min: Duration::from_millis(10),
            max: Duration::from_millis(120),
            max_penalty: 150,
        }
    }
}

/// Per-link settings.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The nominal cost of the link (babeld's `rxcost`): 96 for wired, 256 for wireless.
    pub rxcost: u16,
    pub cost_model: CostModel,
    /// Send Timestamp sub-TLVs and add an RTT-based cost; `None` disables both.
    pub rtt: Option<RttConfig>,
    /// Largest Babel packet to send on this link (link MTU minus IPv6 and UDP headers).
    pub max_packet_len: usize,
    /// Point-to-point link (a tunnel): split horizon applies and IHUs may omit the address.
    pub point_to_point: bool,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            rxcost: 96,
            cost_model: CostModel::Etx,
            rtt: Some(RttConfig::default()),
            max_packet_len: 1232,
            point_to_point: true,
        }
    }
}
