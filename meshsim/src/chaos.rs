//! Random fault sequences over every kind of [`Action`], shared by the `--chaos` option and the
//! property tests, so that a sequence found by one can be replayed by the other.
//!
//! A [`Draw`] is a fault before it is bound to a network: a kind and two raw numbers. [`action`]
//! binds it to the simulator's state at the moment it happens (which links exist, which nodes are
//! down, who originates what), so every draw is valid whatever came before it. [`draws`] makes a
//! seeded sequence; the property tests let proptest choose the numbers instead.

use std::fmt;
use std::str::FromStr;

use crate::rng::SplitMix64;
use crate::router::Router;
use crate::sim::{Action, Sim};

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Cut a link both ways.
    Cut,
    /// Heal a faulty link (one that is cut or one-way if any, else any link).
    Heal,
    /// One end of a link stops hearing the other.
    OneWay,
    /// Total loss on a link for 0.2 to 3.2 s.
    Burst,
    /// A link's nominal cost changes (64 to 1024).
    Cost,
    /// A link goes down and up 1 to 5 times, every 1 to 8 s.
    Flap,
    Crash,
    /// A crashed node restarts without state (or, if none is down, one reboots without state).
    Restart,
    /// Likewise, keeping its seqno.
    RestartKeepingSeqno,
    /// A node restarts at once under a new router-id.
    RouterId,
    /// A node stops originating a prefix (a shared one, or its own /128).
    Withdraw,
    /// A node originates a prefix again, or becomes a new origin of a shared prefix.
    Announce,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Cut,
        Kind::Heal,
        Kind::OneWay,
        Kind::Burst,
        Kind::Cost,
        Kind::Flap,
        Kind::Crash,
        Kind::Restart,
        Kind::RestartKeepingSeqno,
        Kind::RouterId,
        Kind::Withdraw,
        Kind::Announce,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Cut => "cut",
            Kind::Heal => "heal",
            Kind::OneWay => "one-way",
            Kind::Burst => "burst",
            Kind::Cost => "cost",
            Kind::Flap => "flap",
            Kind::Crash => "crash",
            Kind::Restart => "restart",
            Kind::RestartKeepingSeqno => "restart-seqno",
            Kind::RouterId => "router-id",
            Kind::Withdraw => "withdraw",
            Kind::Announce => "announce",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown fault kind `{s}` (expected {})", names.join(", "))
            })
    }
}

/// One fault before it is bound to a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// Virtual milliseconds to wait before it.
    pub wait_ms: u64,
    pub kind: Kind,
    pub a: u64,
    pub b: u64,
}

/// Costs a `Cost` fault chooses from.
const COSTS: [u16; 6] = [64, 96, 128, 256, 512, 1024];

/// Binds `draw` to the simulator's current state. `None` when it cannot apply (no links).
pub fn action<R: Router>(sim: &Sim<R>, draw: &Draw) -> Option<Action> {
    let links = sim.graph().edges.len();
    let nodes = sim.graph().nodes;
    let (a, b) = (draw.a, draw.b);
    let link = || (links > 0).then(|| (a % links as u64) as usize);
    let node = (a % nodes as u64) as usize;
    let down: Vec<usize> = (0..nodes).filter(|&v| sim.is_down(v)).collect();
    let pick_down = |keep_seqno: bool| match down.len() {
        0 => Action::Reboot { node, keep_seqno },
        k => {
            let node = down[(a % k as u64) as usize];
            if keep_seqno {
                Action::RestartKeepingSeqno(node)
            } else {
                Action::Restart(node)
            }
        }
    };
    Some(match draw.kind {
        Kind::Cut => Action::CutLink(link()?),
        Kind::Heal => {
            let faulty: Vec<usize> = (0..links).filter(|&l| sim.is_cut(l)).collect();
            match faulty.len() {
                0 => Action::HealLink(link()?),
                k => Action::HealLink(faulty[(a % k as u64) as usize]),
            }
        }
        Kind::OneWay => Action::OneWay {
            link: link()?,
            from: (b % 2) as u8,
        },
        Kind::Burst => Action::Burst {
            link: link()?,
            millis: 200 + b % 3000,
        },
        Kind::Cost => Action::SetCost {
            link: link()?,
            rxcost: COSTS[(b % COSTS.len() as u64) as usize],
        },
        Kind::Flap => Action::Flap {
            link: link()?,
            period_ms: 1000 + b % 7000,
            times: 1 + ((b / 7000) % 5) as u32,
        },
        Kind::Crash => Action::Crash(node),
        Kind::Restart => pick_down(false),
        Kind::RestartKeepingSeqno => pick_down(true),
        Kind::RouterId => Action::ChangeRouterId(node),
        Kind::Withdraw => {
            // Shared prefixes first when `b` is even: they are where several origins meet.
            let shared = sim.prefix_count() > nodes && b % 2 == 0;
            let pairs: Vec<(usize, usize)> = (0..sim.prefix_count())
                .filter(|&p| !shared || p >= nodes)
                .flat_map(|p| sim.origins(p).iter().map(move |&o| (o as usize, p)))
                .collect();
            match pairs.len() {
                0 => return None,
                k => {
                    let (node, prefix) = pairs[(a % k as u64) as usize];
                    Action::Withdraw { node, prefix }
                }
            }
        }
        Kind::Announce => {
            if !sim.announcing(node).iter().any(|&p| p as usize == node) {
                Action::Announce { node, prefix: node }
            } else if sim.prefix_count() > nodes {
                let shared = sim.prefix_count() - nodes;
                Action::Announce {
                    node,
                    prefix: nodes + (b % shared as u64) as usize,
                }
            } else {
                return None;
            }
        }
    })
}

/// `count` seeded draws of the given kinds, waits uniform in `wait_ms` (inclusive).
pub fn draws(seed: u64, count: usize, kinds: &[Kind], wait_ms: (u64, u64)) -> Vec<Draw> {
    let mut rng = SplitMix64::derive(seed, 0x6368_616f);
    if kinds.is_empty() {
        return Vec::new();
    }
    (0..count)
        .map(|_| Draw {
            wait_ms: rng.range_inclusive(wait_ms.0, wait_ms.1),
            kind: kinds[(rng.next_u64() % kinds.len() as u64) as usize],
            a: rng.next_u64(),
            b: rng.next_u64(),
        })
        .collect()
}

/// Applies `draws` in turn from now, each after its wait; returns the actions applied, with the
/// virtual time of each.
pub fn run<R: Router>(sim: &mut Sim<R>, draws: &[Draw]) -> Vec<(std::time::Duration, Action)> {
    let mut applied = Vec::with_capacity(draws.len());
    for draw in draws {
        let at = sim.now() + std::time::Duration::from_millis(draw.wait_ms);
        sim.run_until(at);
        if let Some(action) = action(sim, draw) {
            sim.apply(action);
            applied.push((at, action));
        }
    }
    applied
}

/// One random test case: a small network with shared prefixes and a fault sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub seed: u64,
    pub nodes: usize,
    /// Nodes announcing `::/0` (0 for none).
    pub gateways: usize,
    /// Nodes announcing one anycast /128 (0 for none).
    pub anycast: usize,
    pub draws: Vec<Draw>,
    /// Per-packet loss on every link, in percent.
    pub loss_percent: u8,
    /// Virtual milliseconds the faults are left in place after the last one, before everything
    /// is healed: long enough, routes to what is unreachable must expire.
    pub linger_ms: u64,
}

/// What a [`Case`] did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub invariants: crate::Invariants,
    /// Whether full connectivity came back within [`HEAL_LIMIT`] of healing everything.
    pub reconverged: bool,
    /// The actions applied, at their virtual times: replaying them gives the same run.
    pub applied: Vec<(std::time::Duration, Action)>,
    /// When everything was healed (replay with this as `heal_at`).
    pub healed_at: std::time::Duration,
    /// Virtual time at the end, and events processed.
    pub end: std::time::Duration,
    pub events: u64,
}

impl Outcome {
    pub fn failed(&self) -> bool {
        self.invariants.violated() || !self.reconverged
    }
}

/// Virtual time a case converges before the first fault.
pub const CONVERGE: std::time::Duration = std::time::Duration::from_secs(30);
/// How long after healing everything a case has to reconverge.
pub const HEAL_LIMIT: std::time::Duration = std::time::Duration::from_secs(240);

impl Case {
    /// A case drawn from `seed`: 3 to 12 nodes, up to 3 gateways, up to 3 anycast origins, no
    /// loss (half the cases), 1% or 5%, 1 to 16 faults of every kind, 0.1 to 12 s apart, and half
    /// the time left in place up to 150 s.
    pub fn from_seed(seed: u64) -> Case {
        Case::from_seed_with(seed, &Kind::ALL)
    }

    /// [`Case::from_seed`] with faults of the given kinds only.
    pub fn from_seed_with(seed: u64, kinds: &[Kind]) -> Case {
        let mut rng = SplitMix64::derive(seed, 0x6361_7365);
        let nodes = 3 + rng.below(10);
        let gateways = rng.below(4);
        let anycast = rng.below(4);
        let count = 1 + rng.below(16);
        let loss_percent = [0, 0, 1, 5][rng.below(4)];
        let linger_ms = if rng.below(2) == 0 {
            0
        } else {
            rng.range_inclusive(0, 150_000)
        };
        Case {
            seed,
            nodes,
            gateways,
            anycast,
            draws: draws(rng.next_u64(), count, kinds, (100, 12_000)),
            loss_percent,
            linger_ms,
        }
    }

    pub fn config(&self) -> crate::SimConfig {
        let mut config = crate::SimConfig::new(self.nodes, crate::Topology::Geometric, self.seed)
            .with_gateways(self.gateways)
            .with_anycast(self.anycast);
        config.loss = f64::from(self.loss_percent) / 100.0;
        config
    }

    /// Converges, applies the faults, heals everything, and waits for reconvergence (then 10 s
    /// more, for late loops).
    pub fn run(&self) -> Outcome {
        let mut sim = match Sim::new(self.config()) {
            Ok(sim) => sim,
            Err(message) => unreachable!("a drawn case is always valid: {message}"),
        };
        let linger = std::time::Duration::from_millis(self.linger_ms);
        replay_prefix(&mut sim, linger, |sim| run(sim, &self.draws))
    }
}

/// Replays explicit `(virtual time, action)` pairs (from [`Outcome::applied`]) on a network,
/// then heals everything at `heal_at` (if later than the last action) and waits as
/// [`Case::run`] does.
pub fn replay(
    config: crate::SimConfig,
    actions: &[(std::time::Duration, Action)],
    heal_at: std::time::Duration,
) -> Outcome {
    let mut sim = match Sim::new(config) {
        Ok(sim) => sim,
        Err(message) => panic!("bad replay configuration: {message}"),
    };
    let last = actions.last().map_or(CONVERGE, |&(at, _)| at);
    replay_prefix(&mut sim, heal_at.saturating_sub(last), |sim| {
        for &(at, action) in actions {
            sim.run_until(at);
            sim.apply(action);
        }
        actions.to_vec()
    })
}

fn replay_prefix(
    sim: &mut Sim,
    linger: std::time::Duration,
    faults: impl FnOnce(&mut Sim) -> Vec<(std::time::Duration, Action)>,
) -> Outcome {
    sim.run_until(CONVERGE);
    let applied = faults(sim);
    sim.run_until(sim.now() + linger);
    let healed_at = sim.now();
    sim.heal_everything();
    let limit = sim.now() + HEAL_LIMIT;
    let mut reconverged = false;
    let mut t = sim.now();
    while t < limit {
        t += std::time::Duration::from_millis(100);
        sim.run_until(t);
        if sim.fully_connected() {
            reconverged = true;
            break;
        }
    }
    sim.run_until(t + std::time::Duration::from_secs(10));
    Outcome {
        invariants: sim.invariants().clone(),
        reconverged,
        applied,
        healed_at,
        end: sim.now(),
        events: sim.counters().events,
    }
}
